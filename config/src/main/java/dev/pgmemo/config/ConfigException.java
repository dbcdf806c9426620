package dev.pgmemo.config;

/**
 * A configuration problem, located by file, line and key so the operator can fix it at once.
 *
 * <p>{@link #getMessage()} reads {@code file:line: key: problem}, in the style of compilers, so
 * editors and terminals can jump to the line; the line part is left out when unknown (0) and the
 * key part when the problem is not about one key (a YAML syntax error, an unreadable file).
 */
public class ConfigException extends Exception {
    private static final long serialVersionUID = 1L;

    private final String file;
    private final int line;
    private final String key;
    private final String problem;

    public ConfigException(String file, int line, String key, String problem) {
        this(file, line, key, problem, null);
    }

    public ConfigException(String file, int line, String key, String problem, Throwable cause) {
        super(format(file, line, key, problem), cause);
        this.file = file;
        this.line = Math.max(line, 0);
        this.key = key;
        this.problem = problem;
    }

    /** The file name as the operator gave it (or the source name passed to {@code parse}). */
    public String file() {
        return file;
    }

    /** The 1-based line of the offending key or value, 0 if unknown. */
    public int line() {
        return line;
    }

    /** The full key path, e.g. {@code cache.default_ttl} or {@code rules[2].match.pattern}; null if none. */
    public String key() {
        return key;
    }

    /** The problem alone, without location. */
    public String problem() {
        return problem;
    }

    private static String format(String file, int line, String key, String problem) {
        StringBuilder sb = new StringBuilder(file == null ? "<config>" : file);
        if (line > 0) {
            sb.append(':').append(line);
        }
        sb.append(": ");
        if (key != null && !key.isEmpty()) {
            sb.append(key).append(": ");
        }
        return sb.append(problem).toString();
    }
}
