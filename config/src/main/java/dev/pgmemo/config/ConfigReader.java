package dev.pgmemo.config;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;
import org.yaml.snakeyaml.nodes.Tag;

/**
 * Turns a composed YAML node tree into a {@link PgmemoConfig}, walking it key by key so that every
 * error carries the line of the offending node and the full key path.
 */
final class ConfigReader {
    static final List<String> TOP_KEYS = List.of("listen", "upstream", "connect_timeout", "startup_timeout",
            "drain_timeout", "max_message_size", "pid_file", "unix_socket_dir", "unix_socket_mode", "tls", "admin",
            "cache", "rules");
    static final List<String> TLS_KEYS = List.of("cert", "key");
    static final List<String> ADMIN_KEYS = List.of("listen", "enabled");
    static final List<String> CACHE_KEYS = List.of("enabled", "store", "default_ttl", "max_entry_size",
            "memory_max_size", "store_timeout", "analysis_cache_size", "admission", "store_ca");
    static final List<String> RULE_KEYS = List.of("match", "ttl", "cache");
    static final List<String> MATCH_KEYS = List.of("tables", "query", "pattern");

    /** Where each section sits, as told to an operator who put a key in the wrong one. */
    private static final Map<List<String>, String> SECTION_PLACES = new LinkedHashMap<>();

    static {
        SECTION_PLACES.put(TOP_KEYS, "at the top level");
        SECTION_PLACES.put(TLS_KEYS, "under tls:");
        SECTION_PLACES.put(ADMIN_KEYS, "under admin:");
        SECTION_PLACES.put(CACHE_KEYS, "under cache:");
        SECTION_PLACES.put(RULE_KEYS, "in a rule under rules:");
        SECTION_PLACES.put(MATCH_KEYS, "under match: in a rule");
    }

    private static final String IDENT = "(?:\"(?:[^\"]|\"\")+\"|[\\p{L}_*][\\p{L}\\p{N}_$*]*)";
    private static final Pattern TABLE_NAME = Pattern.compile(IDENT + "(?:\\." + IDENT + ")?");
    private static final long MAX_ENTRY_SIZE_LIMIT = 512L << 20; // Redis' largest string value

    private final String file;
    private final Path baseDir;

    ConfigReader(String file, Path baseDir) {
        this.file = file;
        this.baseDir = baseDir;
    }

    PgmemoConfig read(Node root, Path source) throws ConfigException {
        Section top = new Section("", root, TOP_KEYS);
        HostPort listen = hostPort(top, "listen", PgmemoConfig.DEFAULT_LISTEN);
        UpstreamConfig upstream = upstream(top);
        Duration connectTimeout = duration(top, "connect_timeout", PgmemoConfig.DEFAULT_CONNECT_TIMEOUT, false);
        Duration startupTimeout = duration(top, "startup_timeout", PgmemoConfig.DEFAULT_STARTUP_TIMEOUT, false);
        Duration drainTimeout = duration(top, "drain_timeout", PgmemoConfig.DEFAULT_DRAIN_TIMEOUT, true);
        long maxMessageSize = size(top, "max_message_size", PgmemoConfig.DEFAULT_MAX_MESSAGE_SIZE,
                PgmemoConfig.MIN_MESSAGE_SIZE_LIMIT, PgmemoConfig.MAX_MESSAGE_SIZE_LIMIT);
        Path pidFile = pidFile(top);
        UnixSocketListen unixSocket = unixSocket(top, listen);
        TlsConfig tls = tls(top);
        AdminConfig admin = admin(top);
        CacheConfig cache = cache(top);
        List<Rule> rules = rules(top);

        if (admin.enabled() && admin.listen().port() != 0 && admin.listen().equals(listen)) {
            Section adminSection = new Section("admin", top.value("admin"), ADMIN_KEYS);
            throw error(adminSection.lineOf("listen"), "admin.listen",
                    "same address as listen (" + listen + "); give the admin endpoint its own port");
        }
        if (listen.port() != 0 && listen.equals(upstream.address())) {
            throw error(top.lineOf("upstream"), "upstream",
                    "points at pgmemo's own listen address " + listen + "; give PostgreSQL's address");
        }
        return new PgmemoConfig(source, listen, upstream, tls, admin, cache, rules, maxMessageSize,
                connectTimeout, startupTimeout, drainTimeout, pidFile, unixSocket);
    }

    /**
     * {@code unix_socket_dir} (an existing directory; empty means none) and {@code unix_socket_mode} (octal, with
     * the directory).
     */
    private UnixSocketListen unixSocket(Section top, HostPort listen) throws ConfigException {
        ScalarNode dirNode = scalar(top, "unix_socket_dir");
        ScalarNode modeNode = scalar(top, "unix_socket_mode");
        if (dirNode != null && dirNode.getValue().isBlank()) {
            dirNode = null; // empty: no socket, as in PgBouncer
        }
        if (dirNode == null) {
            if (modeNode != null) {
                throw error(modeNode, "unix_socket_mode", "needs unix_socket_dir (the directory of the socket)");
            }
            return null;
        }
        Path dir = path(dirNode, "unix_socket_dir");
        if (!Files.isDirectory(dir)) {
            throw error(dirNode, "unix_socket_dir", "directory " + dir + " does not exist");
        }
        // With listen's port 0 the port is known only once bound: allow for the longest one.
        Path socket = SocketPaths.inDirectory(dir, listen.port() == 0 ? 65535 : listen.port());
        if (SocketPaths.tooLong(socket)) {
            throw error(dirNode, "unix_socket_dir", "socket path " + socket + " is longer than "
                    + SocketPaths.MAX_BYTES + " bytes, which Linux does not allow");
        }
        int mode = UnixSocketListen.DEFAULT_MODE;
        if (modeNode != null) {
            String v = modeNode.getValue().trim();
            if (!v.matches("0?[0-7]{3}")) {
                throw error(modeNode, "unix_socket_mode", "invalid mode " + Texts.quote(v)
                        + " (expected octal permission bits, e.g. \"0777\" or \"0770\")");
            }
            mode = Integer.parseInt(v, 8);
        }
        return new UnixSocketListen(dir, mode);
    }

    private UpstreamConfig upstream(Section top) throws ConfigException {
        ScalarNode node = scalar(top, "upstream");
        if (node == null) {
            return UpstreamConfig.defaults();
        }
        UpstreamConfig parsed;
        try {
            parsed = UpstreamConfig.parse(node.getValue());
        } catch (IllegalArgumentException e) {
            throw error(node, "upstream", e.getMessage());
        }
        if (parsed.sslRootCert() == null) {
            return parsed;
        }
        if (parsed.sslMode() == SslMode.DISABLE) {
            throw error(node, "upstream", "sslrootcert is given but sslmode is disable (the default); "
                    + "add sslmode=verify-full (or verify-ca, require)");
        }
        Path rootCert = readableFile(node, "upstream", baseDir.resolve(parsed.sslRootCert()).normalize(),
                "sslrootcert ");
        return new UpstreamConfig(parsed.host(), parsed.port(), parsed.sslMode(), rootCert);
    }

    private Path pidFile(Section top) throws ConfigException {
        ScalarNode node = scalar(top, "pid_file");
        if (node == null) {
            return null;
        }
        Path path = path(node, "pid_file");
        Path dir = path.getParent();
        if (dir != null && !Files.isDirectory(dir)) {
            throw error(node, "pid_file", "directory " + dir + " does not exist");
        }
        return path;
    }

    private TlsConfig tls(Section top) throws ConfigException {
        Node node = top.value("tls");
        if (node == null) {
            return null;
        }
        Section tls = new Section("tls", node, TLS_KEYS);
        ScalarNode cert = scalar(tls, "cert");
        ScalarNode key = scalar(tls, "key");
        if (cert == null || key == null) {
            String missing = cert == null ? "cert" : "key";
            throw error(line(node), "tls." + missing,
                    "missing: tls needs both cert and key (PEM files), or leave tls out to refuse TLS");
        }
        Path certPath = readableFile(cert, "tls.cert", path(cert, "tls.cert"), "");
        Path keyPath = readableFile(key, "tls.key", path(key, "tls.key"), "");
        return new TlsConfig(certPath, keyPath);
    }

    private AdminConfig admin(Section top) throws ConfigException {
        Section admin = new Section("admin", top.value("admin"), ADMIN_KEYS);
        return new AdminConfig(hostPort(admin, "listen", AdminConfig.DEFAULT_LISTEN), bool(admin, "enabled", true));
    }

    private CacheConfig cache(Section top) throws ConfigException {
        Section cache = new Section("cache", top.value("cache"), CACHE_KEYS);
        boolean enabled = bool(cache, "enabled", true);
        String store = null;
        ScalarNode storeNode = scalar(cache, "store");
        if (storeNode != null) {
            store = storeNode.getValue();
            try {
                StoreUrl.check(store);
            } catch (IllegalArgumentException e) {
                throw error(storeNode, "cache.store", e.getMessage());
            }
        }
        Duration defaultTtl = duration(cache, "default_ttl", CacheConfig.DEFAULT_TTL, true);
        long maxEntrySize = size(cache, "max_entry_size", CacheConfig.DEFAULT_MAX_ENTRY_SIZE, 1,
                MAX_ENTRY_SIZE_LIMIT);
        long memoryMaxSize = size(cache, "memory_max_size", CacheConfig.DEFAULT_MEMORY_MAX_SIZE, 1L << 20,
                Long.MAX_VALUE);
        Duration storeTimeout = duration(cache, "store_timeout", CacheConfig.DEFAULT_STORE_TIMEOUT, false);
        int analysisCacheSize = (int) integer(cache, "analysis_cache_size", CacheConfig.DEFAULT_ANALYSIS_CACHE_SIZE,
                1, 100_000_000);
        CacheConfig.Admission admission = CacheConfig.Admission.COST;
        ScalarNode admissionNode = scalar(cache, "admission");
        if (admissionNode != null) {
            switch (admissionNode.getValue()) {
                case "cost" -> admission = CacheConfig.Admission.COST;
                case "all" -> admission = CacheConfig.Admission.ALL;
                default -> throw error(admissionNode, "cache.admission",
                        "expected cost or all, found '" + admissionNode.getValue() + "'");
            }
        }
        if (store == null && maxEntrySize > memoryMaxSize) {
            String key = cache.has("max_entry_size") ? "max_entry_size" : "memory_max_size";
            throw error(cache.lineOf(key), "cache." + key, "max_entry_size (" + Units.formatSize(maxEntrySize)
                    + ") is larger than memory_max_size (" + Units.formatSize(memoryMaxSize)
                    + "), so no such entry could be kept");
        }
        Path storeCa = storeCa(cache, store);
        return new CacheConfig(enabled, store, defaultTtl, maxEntrySize, memoryMaxSize, storeTimeout,
                analysisCacheSize, admission, storeCa);
    }

    /** {@code cache.store_ca}: a readable file of PEM certificates, for a TLS store ({@code rediss...://}) only. */
    private Path storeCa(Section cache, String store) throws ConfigException {
        ScalarNode node = scalar(cache, "store_ca");
        if (node == null) {
            return null;
        }
        if (store == null || !store.startsWith("rediss")) {
            throw error(node, "cache.store_ca", "applies to a TLS store only (rediss://, rediss-sentinel://, "
                    + "rediss-cluster://)" + (store == null ? "; no store is configured" : ""));
        }
        Path path = readableFile(node, "cache.store_ca", path(node, "cache.store_ca"), "");
        try (java.io.InputStream in = Files.newInputStream(path)) {
            if (java.security.cert.CertificateFactory.getInstance("X.509").generateCertificates(in).isEmpty()) {
                throw error(node, "cache.store_ca", "no certificate in " + path + " (expected PEM)");
            }
        } catch (java.io.IOException | java.security.cert.CertificateException e) {
            throw error(node, "cache.store_ca", "cannot read certificates from " + path + " (expected PEM): "
                    + e.getMessage());
        }
        return path;
    }

    private List<Rule> rules(Section top) throws ConfigException {
        Node node = top.value("rules");
        if (node == null) {
            return List.of();
        }
        checkTag(node, "rules");
        if (!(node instanceof SequenceNode seq)) {
            throw error(node, "rules", "expected a list of rules (lines starting with '- '), found " + describe(node));
        }
        List<Rule> rules = new ArrayList<>();
        for (int i = 0; i < seq.getValue().size(); i++) {
            rules.add(rule(i, seq.getValue().get(i)));
        }
        return rules;
    }

    private Rule rule(int index, Node node) throws ConfigException {
        String path = "rules[" + index + "]";
        if (!(node instanceof MappingNode)) {
            throw error(node, path, "expected a rule (match:, ttl:, cache:), found " + describe(node));
        }
        Section rule = new Section(path, node, RULE_KEYS);
        Node matchNode = rule.value("match");
        if (matchNode == null) {
            throw error(line(node), path + ".match",
                    "missing: every rule needs match: with tables, query or pattern");
        }
        Section match = new Section(path + ".match", matchNode, MATCH_KEYS);
        List<String> tables = tables(match);
        String query = null;
        ScalarNode queryNode = scalar(match, "query");
        if (queryNode != null) {
            query = queryNode.getValue().strip();
            if (query.isEmpty()) {
                throw error(queryNode, match.keyPath("query"), "empty query");
            }
        }
        Pattern pattern = null;
        ScalarNode patternNode = scalar(match, "pattern");
        if (patternNode != null) {
            try {
                pattern = Pattern.compile(patternNode.getValue());
            } catch (PatternSyntaxException e) {
                String near = e.getIndex() >= 0 ? " at index " + e.getIndex() : "";
                throw error(patternNode, match.keyPath("pattern"), "invalid regular expression "
                        + Texts.quote(patternNode.getValue()) + ": " + e.getDescription() + near);
            }
        }
        if (tables.isEmpty() && query == null && pattern == null) {
            throw error(matchNode, match.path, "needs at least one of tables, query, pattern");
        }
        Duration ttl = rule.has("ttl") ? duration(rule, "ttl", null, true) : null;
        boolean cache = bool(rule, "cache", true);
        return new Rule(index, line(node), new RuleMatch(tables, query, pattern), ttl, cache);
    }

    private List<String> tables(Section match) throws ConfigException {
        Node node = match.value("tables");
        String key = match.keyPath("tables");
        if (node == null) {
            return List.of();
        }
        checkTag(node, key);
        if (!(node instanceof SequenceNode seq)) {
            throw error(node, key, "expected a list of table names, e.g. [users, public.orders], found "
                    + describe(node));
        }
        List<String> tables = new ArrayList<>();
        for (int i = 0; i < seq.getValue().size(); i++) {
            Node item = seq.getValue().get(i);
            String itemKey = key + "[" + i + "]";
            checkTag(item, itemKey);
            if (!(item instanceof ScalarNode s) || s.getTag().equals(Tag.NULL)) {
                throw error(item, itemKey, "expected a table name, found " + describe(item));
            }
            if (!TABLE_NAME.matcher(s.getValue()).matches()) {
                throw error(item, itemKey, "invalid table name " + Texts.quote(s.getValue())
                        + " (expected e.g. users, public.users, app.*, *_log)");
            }
            tables.add(s.getValue());
        }
        return tables;
    }

    // ---- typed values ----

    private HostPort hostPort(Section section, String key, HostPort dflt) throws ConfigException {
        ScalarNode node = scalar(section, key);
        if (node == null) {
            return dflt;
        }
        try {
            return HostPort.parse(node.getValue());
        } catch (IllegalArgumentException e) {
            throw error(node, section.keyPath(key), e.getMessage());
        }
    }

    private Duration duration(Section section, String key, Duration dflt, boolean zeroAllowed)
            throws ConfigException {
        ScalarNode node = scalar(section, key);
        if (node == null) {
            return dflt;
        }
        Duration d;
        try {
            d = Units.parseDuration(node.getValue());
        } catch (IllegalArgumentException e) {
            throw error(node, section.keyPath(key), e.getMessage());
        }
        if (d.isZero() && !zeroAllowed) {
            throw error(node, section.keyPath(key), "must be greater than 0");
        }
        return d;
    }

    private long size(Section section, String key, long dflt, long min, long max) throws ConfigException {
        ScalarNode node = scalar(section, key);
        if (node == null) {
            return dflt;
        }
        long size;
        try {
            size = Units.parseSize(node.getValue());
        } catch (IllegalArgumentException e) {
            throw error(node, section.keyPath(key), e.getMessage());
        }
        if (size < min || size > max) {
            String range = max == Long.MAX_VALUE ? "at least " + Units.formatSize(min)
                    : "between " + Units.formatSize(min) + " and " + Units.formatSize(max);
            throw error(node, section.keyPath(key), Texts.quote(node.getValue()) + " is out of range: must be "
                    + range);
        }
        return size;
    }

    private long integer(Section section, String key, long dflt, long min, long max) throws ConfigException {
        ScalarNode node = scalar(section, key);
        if (node == null) {
            return dflt;
        }
        long n;
        try {
            if (!node.getTag().equals(Tag.INT)) {
                throw new NumberFormatException();
            }
            n = Long.parseLong(node.getValue().replace("_", ""));
        } catch (NumberFormatException e) {
            throw error(node, section.keyPath(key), "expected a whole number, found " + describe(node));
        }
        if (n < min || n > max) {
            throw error(node, section.keyPath(key), n + " is out of range " + min + "-" + max);
        }
        return n;
    }

    private boolean bool(Section section, String key, boolean dflt) throws ConfigException {
        ScalarNode node = scalar(section, key);
        if (node == null) {
            return dflt;
        }
        if (!node.getTag().equals(Tag.BOOL)) {
            throw error(node, section.keyPath(key), "expected true or false, found " + describe(node));
        }
        String v = node.getValue().toLowerCase(Locale.ROOT);
        return v.equals("true") || v.equals("yes") || v.equals("on") || v.equals("y");
    }

    private Path path(ScalarNode node, String key) throws ConfigException {
        try {
            return baseDir.resolve(node.getValue()).normalize();
        } catch (InvalidPathException e) {
            throw error(node, key, "invalid path " + Texts.quote(node.getValue()));
        }
    }

    private Path readableFile(Node node, String key, Path path, String what) throws ConfigException {
        if (!Files.exists(path)) {
            throw error(node, key, what + "file not found: " + path);
        }
        if (!Files.isRegularFile(path)) {
            throw error(node, key, what + path + " is not a regular file");
        }
        if (!Files.isReadable(path)) {
            throw error(node, key, what + "file not readable by this user: " + path);
        }
        return path;
    }

    /** The value of {@code key} as a scalar; null when absent or YAML null; error when a list or mapping. */
    private ScalarNode scalar(Section section, String key) throws ConfigException {
        Node node = section.value(key);
        if (node == null) {
            return null;
        }
        checkTag(node, section.keyPath(key));
        if (!(node instanceof ScalarNode s)) {
            throw error(node, section.keyPath(key), "expected a single value, found " + describe(node));
        }
        return s;
    }

    private void checkTag(Node node, String key) throws ConfigException {
        if (!node.getTag().startsWith(Tag.PREFIX)) {
            throw error(node, key, "unsupported YAML tag " + node.getTag().getValue());
        }
    }

    // ---- errors ----

    private ConfigException error(Node node, String key, String problem) {
        return error(line(node), key, problem);
    }

    private ConfigException error(int line, String key, String problem) {
        return new ConfigException(file, line, key, problem);
    }

    private static int line(Node node) {
        return node == null || node.getStartMark() == null ? 0 : node.getStartMark().getLine() + 1;
    }

    private static String describe(Node node) {
        if (node instanceof MappingNode) {
            return "a mapping";
        }
        if (node instanceof SequenceNode) {
            return "a list";
        }
        ScalarNode s = (ScalarNode) node;
        return s.getTag().equals(Tag.NULL) ? "nothing" : Texts.quote(s.getValue());
    }

    private static String unknownKey(String key, List<String> allowed) {
        List<String> places = new ArrayList<>();
        for (Map.Entry<List<String>, String> e : SECTION_PLACES.entrySet()) {
            if (e.getKey() != allowed && e.getKey().contains(key)) {
                places.add(e.getValue());
            }
        }
        if (!places.isEmpty()) {
            return "misplaced key (it goes " + String.join(" or ", places) + ")";
        }
        String typo = Texts.closest(key, allowed);
        if (typo != null) {
            return "unknown key (did you mean " + typo + "?)";
        }
        return "unknown key (expected one of: " + String.join(", ", allowed) + ")";
    }

    /** One YAML mapping with its keys checked: no unknown, duplicate, complex or merge keys. */
    private final class Section {
        final String path;
        final Node node;
        final Map<String, NodeTuple> entries = new HashMap<>();

        /** {@code node} null or YAML null = an absent section, whose keys all take their defaults. */
        Section(String path, Node node, List<String> allowed) throws ConfigException {
            this.path = path;
            this.node = node;
            if (node == null || node instanceof ScalarNode s && s.getTag().equals(Tag.NULL)) {
                return;
            }
            String where = path.isEmpty() ? "the top level" : path;
            checkTag(node, path.isEmpty() ? null : path);
            if (!(node instanceof MappingNode mapping)) {
                String what = path.isEmpty() ? "expected a mapping of settings (key: value lines) at the top level"
                        : "expected a mapping (key: value lines)";
                throw error(node, path.isEmpty() ? null : path, what + ", found " + describe(node));
            }
            for (NodeTuple tuple : mapping.getValue()) {
                Node keyNode = tuple.getKeyNode();
                if (keyNode.getTag().equals(Tag.MERGE)) {
                    throw error(keyNode, path.isEmpty() ? null : path, "merge keys (<<) are not supported");
                }
                if (!(keyNode instanceof ScalarNode scalarKey) || keyNode.getTag().equals(Tag.NULL)) {
                    throw error(keyNode, path.isEmpty() ? null : path, "keys in " + where + " must be plain names");
                }
                String key = scalarKey.getValue();
                NodeTuple first = entries.putIfAbsent(key, tuple);
                if (first != null) {
                    throw error(keyNode, keyPath(key), "duplicate key (first given at line "
                            + line(first.getKeyNode()) + ")");
                }
                if (!allowed.contains(key)) {
                    throw error(keyNode, keyPath(key), unknownKey(key, allowed));
                }
            }
        }

        String keyPath(String key) {
            return path.isEmpty() ? key : path + "." + key;
        }

        boolean has(String key) {
            return value(key) != null;
        }

        /** The value node of {@code key}; null when absent or given as YAML null (~, or nothing). */
        Node value(String key) {
            NodeTuple tuple = entries.get(key);
            if (tuple == null) {
                return null;
            }
            Node v = tuple.getValueNode();
            return v instanceof ScalarNode s && s.getTag().equals(Tag.NULL) ? null : v;
        }

        int lineOf(String key) {
            NodeTuple tuple = entries.get(key);
            return tuple != null ? line(tuple.getKeyNode()) : line(node);
        }
    }
}
