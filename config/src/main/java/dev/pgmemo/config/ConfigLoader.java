package dev.pgmemo.config;

import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.Tag;

/**
 * Loads pgmemo's YAML configuration file, or the defaults when there is none. Every problem is a
 * {@link ConfigException} naming file, line and key; pgmemo does not start with a doubtful config.
 */
public final class ConfigLoader {
    private ConfigLoader() {
    }

    /** The configuration used when no file is given. */
    public static PgmemoConfig defaults() {
        return defaults(null);
    }

    /**
     * Reads and validates {@code file}; relative paths inside it resolve against its directory.
     *
     * @throws ConfigException when the file is missing, unreadable, not UTF-8, or invalid
     */
    public static PgmemoConfig load(Path file) throws ConfigException {
        String name = file.toString();
        if (Files.isDirectory(file)) {
            throw new ConfigException(name, 0, null, "is a directory, not a config file");
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ConfigException(name, 0, null, "config file not found", e);
        } catch (AccessDeniedException e) {
            throw new ConfigException(name, 0, null, "cannot read config file: permission denied", e);
        } catch (IOException e) {
            throw new ConfigException(name, 0, null, "cannot read config file: " + e.getMessage(), e);
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes))
                    .toString();
        } catch (CharacterCodingException e) {
            throw new ConfigException(name, 0, null, "config file is not valid UTF-8 text", e);
        }
        Path source = file.toAbsolutePath().normalize();
        return parse(text, name, source.getParent(), source);
    }

    /**
     * Parses YAML text; {@code sourceName} names it in errors, and relative paths resolve against
     * its directory (the working directory when it has none). The result's {@code source} is null.
     */
    public static PgmemoConfig parse(String yaml, String sourceName) throws ConfigException {
        Path base;
        try {
            Path parent = Path.of(sourceName).toAbsolutePath().normalize().getParent();
            base = parent != null ? parent : Path.of("").toAbsolutePath();
        } catch (InvalidPathException e) {
            base = Path.of("").toAbsolutePath();
        }
        return parse(yaml, sourceName, base, null);
    }

    private static PgmemoConfig parse(String yaml, String sourceName, Path baseDir, Path source)
            throws ConfigException {
        String text = yaml.startsWith("\uFEFF") ? yaml.substring(1) : yaml;
        Node root;
        try {
            root = new Yaml().compose(new StringReader(text));
        } catch (MarkedYAMLException e) {
            throw syntaxError(sourceName, e);
        } catch (YAMLException e) {
            throw new ConfigException(sourceName, 0, null, "invalid YAML: " + e.getMessage(), e);
        }
        if (root == null || root instanceof ScalarNode s && s.getTag().equals(Tag.NULL)) {
            return defaults(source);
        }
        return new ConfigReader(sourceName, baseDir).read(root, source);
    }

    private static ConfigException syntaxError(String sourceName, MarkedYAMLException e) {
        Mark mark = e.getProblemMark() != null ? e.getProblemMark() : e.getContextMark();
        int line = mark == null ? 0 : mark.getLine() + 1;
        String problem = e.getProblem() != null ? e.getProblem() : e.getContext();
        if (mark != null) {
            problem += " (column " + (mark.getColumn() + 1) + ")";
        }
        Mark contextMark = e.getContextMark();
        if (e.getContext() != null && e.getProblem() != null && contextMark != null) {
            String context = e.getContext() + " at line " + (contextMark.getLine() + 1);
            // snakeyaml phrases some problems as the second half of "expected X, but found Y".
            problem = e.getProblem().startsWith("but ") ? context + ", " + problem : problem + ", " + context;
        }
        if (e.getProblem() != null && e.getProblem().contains("<block end>")) {
            problem += "; check the indentation";
        }
        return new ConfigException(sourceName, line, null, "invalid YAML: " + problem.replaceAll("\\s+", " "), e);
    }

    private static PgmemoConfig defaults(Path source) {
        return new PgmemoConfig(source, PgmemoConfig.DEFAULT_LISTEN, UpstreamConfig.defaults(), null,
                AdminConfig.defaults(), CacheConfig.defaults(), List.of(), PgmemoConfig.DEFAULT_MAX_MESSAGE_SIZE,
                PgmemoConfig.DEFAULT_CONNECT_TIMEOUT, PgmemoConfig.DEFAULT_STARTUP_TIMEOUT,
                PgmemoConfig.DEFAULT_DRAIN_TIMEOUT, null, null);
    }
}
