package dev.pgmemo.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every error names file, line and key, and says what to do. */
class ConfigErrorsTest {
    @TempDir
    Path dir;

    interface Action {
        void run() throws Exception;
    }

    static ConfigException thrownBy(Action action) {
        try {
            action.run();
        } catch (ConfigException e) {
            return e;
        } catch (Exception e) {
            throw new AssertionError("expected ConfigException, got " + e, e);
        }
        return fail("expected ConfigException");
    }

    private static ConfigException error(String yaml) {
        return thrownBy(() -> ConfigLoader.parse(yaml, "pgmemo.yaml"));
    }

    private static PgmemoConfig parsed(String yaml) {
        try {
            return ConfigLoader.parse(yaml, "pgmemo.yaml");
        } catch (ConfigException e) {
            throw new AssertionError("refused: " + e.getMessage(), e);
        }
    }

    private static String message(String yaml) {
        return error(yaml).getMessage();
    }

    @Test
    void badDurationNamesFileLineAndKey() {
        ConfigException e = error("""
                listen: 127.0.0.1:6433
                # the cache
                cache:
                  store: redis://localhost
                  max_entry_size: 1MiB

                  default_ttl: 6O s
                """);
        assertThat(e.getMessage()).isEqualTo(
                "pgmemo.yaml:7: cache.default_ttl: invalid duration \"6O s\" (expected e.g. 500ms, 30s, 5m, 1h)");
        assertThat(e.file()).isEqualTo("pgmemo.yaml");
        assertThat(e.line()).isEqualTo(7);
        assertThat(e.key()).isEqualTo("cache.default_ttl");
        assertThat(e.problem()).startsWith("invalid duration");
    }

    @Test
    void rejectsNegativeDurationsAndZeroTimeouts() {
        assertThat(message("drain_timeout: -5s")).isEqualTo(
                "pgmemo.yaml:1: drain_timeout: invalid duration \"-5s\": must not be negative");
        assertThat(message("connect_timeout: -5")).isEqualTo(
                "pgmemo.yaml:1: connect_timeout: invalid duration \"-5\": must not be negative");
        assertThat(message("cache:\n  store_timeout: 0ms")).isEqualTo(
                "pgmemo.yaml:2: cache.store_timeout: must be greater than 0");
        assertThat(message("rules:\n  - match: {tables: [t]}\n    ttl: 1.5h")).isEqualTo(
                "pgmemo.yaml:3: rules[0].ttl: invalid duration \"1.5h\" (expected e.g. 500ms, 30s, 5m, 1h)");
    }

    @Test
    void badAddressNamesKey() {
        assertThat(message("listen: localhost")).isEqualTo("pgmemo.yaml:1: listen: invalid address \"localhost\": "
                + "expected host:port, e.g. 127.0.0.1:6433 or [::1]:6433");
        assertThat(message("admin:\n  listen: 127.0.0.1:99999")).isEqualTo(
                "pgmemo.yaml:2: admin.listen: invalid address \"127.0.0.1:99999\": port 99999 is out of range 0-65535");
        assertThat(message("listen: ::1:6433")).isEqualTo("pgmemo.yaml:1: listen: invalid address \"::1:6433\": "
                + "an IPv6 address goes in brackets, e.g. [::1]:6433");
        assertThat(message("listen: 6433")).isEqualTo("pgmemo.yaml:1: listen: invalid address \"6433\": "
                + "expected host:port, e.g. 127.0.0.1:6433 or [::1]:6433");
    }

    @Test
    void unknownTopLevelKeySuggestsTheClosest() {
        ConfigException e = error("listen: 127.0.0.1:6433\nupstrem: postgresql://db:5432\n");
        assertThat(e.getMessage()).isEqualTo("pgmemo.yaml:2: upstrem: unknown key (did you mean upstream?)");
        assertThat(e.key()).isEqualTo("upstrem");
        assertThat(e.line()).isEqualTo(2);
    }

    @Test
    void unknownKeyFarFromAnyListsTheKnownOnes() {
        assertThat(message("admin:\n  port: 9000")).isEqualTo(
                "pgmemo.yaml:2: admin.port: unknown key (expected one of: listen, enabled)");
    }

    @Test
    void unknownNestedKeySuggestsTheClosest() {
        assertThat(message("cache:\n  enabled: true\n  defualt_ttl: 5s\n")).isEqualTo(
                "pgmemo.yaml:3: cache.defualt_ttl: unknown key (did you mean default_ttl?)");
        assertThat(message("cache:\n  default-ttl: 5s\n")).isEqualTo(
                "pgmemo.yaml:2: cache.default-ttl: unknown key (did you mean default_ttl?)");
        assertThat(message("rules:\n  - match:\n      table: [users]\n")).isEqualTo(
                "pgmemo.yaml:3: rules[0].match.table: unknown key (did you mean tables?)");
    }

    @Test
    void misplacedKeyTellsWhereItGoes() {
        assertThat(message("default_ttl: 5s")).isEqualTo(
                "pgmemo.yaml:1: default_ttl: misplaced key (it goes under cache:)");
        assertThat(message("enabled: false")).isEqualTo(
                "pgmemo.yaml:1: enabled: misplaced key (it goes under admin: or under cache:)");
        assertThat(message("rules:\n  - tables: [users]\n    ttl: 5s\n")).isEqualTo(
                "pgmemo.yaml:2: rules[0].tables: misplaced key (it goes under match: in a rule)");
    }

    @Test
    void duplicateKeyIsAnError() {
        assertThat(message("listen: a:1\ncache: {}\nlisten: b:2\n")).isEqualTo(
                "pgmemo.yaml:3: listen: duplicate key (first given at line 1)");
    }

    @Test
    void wrongTypeNamesWhatWasExpected() {
        assertThat(message("cache:\n  - store: redis://x\n")).isEqualTo(
                "pgmemo.yaml:2: cache: expected a mapping (key: value lines), found a list");
        assertThat(message("listen: [a, b]")).isEqualTo(
                "pgmemo.yaml:1: listen: expected a single value, found a list");
        assertThat(message("rules:\n  match: {tables: [a]}\n")).isEqualTo(
                "pgmemo.yaml:2: rules: expected a list of rules (lines starting with '- '), found a mapping");
        assertThat(message("rules:\n  - match: {tables: users}\n")).isEqualTo(
                "pgmemo.yaml:2: rules[0].match.tables: expected a list of table names, e.g. [users, public.orders], "
                        + "found \"users\"");
        assertThat(message("admin:\n  enabled: \"false\"\n")).isEqualTo(
                "pgmemo.yaml:2: admin.enabled: expected true or false, found \"false\"");
        assertThat(message("cache:\n  analysis_cache_size: lots\n")).isEqualTo(
                "pgmemo.yaml:2: cache.analysis_cache_size: expected a whole number, found \"lots\"");
        assertThat(message("cache:\n  admission: sometimes\n")).isEqualTo(
                "pgmemo.yaml:2: cache.admission: expected cost or all, found 'sometimes'");
        assertThat(message("- listen: a:1")).isEqualTo(
                "pgmemo.yaml:1: expected a mapping of settings (key: value lines) at the top level, found a list");
        assertThat(message("listen: !env LISTEN")).isEqualTo(
                "pgmemo.yaml:1: listen: unsupported YAML tag !env");
        assertThat(message("<<: {listen: a:1}")).isEqualTo("pgmemo.yaml:1: merge keys (<<) are not supported");
    }

    @Test
    void sizesAreCheckedForFormAndRange() {
        assertThat(message("max_message_size: 1 MB x")).isEqualTo(
                "pgmemo.yaml:1: max_message_size: invalid size \"1 MB x\" (expected e.g. 1024, 512KiB, 1MiB, 1GiB)");
        assertThat(message("max_message_size: 2GiB")).isEqualTo(
                "pgmemo.yaml:1: max_message_size: \"2GiB\" is out of range: must be between 1KiB and 1GiB");
        assertThat(message("max_message_size: 1000")).isEqualTo(
                "pgmemo.yaml:1: max_message_size: \"1000\" is out of range: must be between 1KiB and 1GiB");
        assertThat(message("cache:\n  memory_max_size: 2MiB\n  max_entry_size: 4MiB\n")).isEqualTo(
                "pgmemo.yaml:3: cache.max_entry_size: max_entry_size (4MiB) is larger than memory_max_size (2MiB), "
                        + "so no such entry could be kept");
    }

    @Test
    void tlsNeedsBothCertAndKey() throws Exception {
        Path cert = Files.writeString(dir.resolve("server.crt"), "cert");
        ConfigException e = error("listen: 127.0.0.1:6433\ntls:\n  cert: " + cert + "\n");
        assertThat(e.getMessage()).isEqualTo("pgmemo.yaml:3: tls.key: missing: tls needs both cert and key "
                + "(PEM files), or leave tls out to refuse TLS");
        assertThat(e.key()).isEqualTo("tls.key");
    }

    @Test
    void tlsFilesMustExist() throws Exception {
        Path cert = Files.writeString(dir.resolve("server.crt"), "cert");
        ConfigException e = thrownBy(() -> ConfigLoader.parse("tls:\n  cert: server.crt\n  key: server.key\n",
                dir.resolve("pgmemo.yaml").toString()));
        assertThat(e.getMessage()).endsWith(
                "pgmemo.yaml:3: tls.key: file not found: " + dir.resolve("server.key"));
        assertThat(cert).exists();
    }

    @Test
    void badRegexNamesItsLine() {
        ConfigException e = error("""
                rules:
                  - match: { tables: [users] }
                    ttl: 1m
                  - match:
                      pattern: "select (a"
                    cache: false
                """);
        assertThat(e.getMessage()).isEqualTo("pgmemo.yaml:5: rules[1].match.pattern: invalid regular expression "
                + "\"select (a\": Unclosed group at index 9");
        assertThat(e.line()).isEqualTo(5);
    }

    @Test
    void ruleNeedsAMatchWithSomething() {
        assertThat(message("rules:\n  - ttl: 5m\n")).isEqualTo(
                "pgmemo.yaml:2: rules[0].match: missing: every rule needs match: with tables, query or pattern");
        assertThat(message("rules:\n  - match: {tables: []}\n")).isEqualTo(
                "pgmemo.yaml:2: rules[0].match: needs at least one of tables, query, pattern");
        assertThat(message("rules:\n  -\n")).isEqualTo(
                "pgmemo.yaml:2: rules[0]: expected a rule (match:, ttl:, cache:), found nothing");
        assertThat(message("rules:\n  - match: {tables: [a.b.c]}\n")).isEqualTo(
                "pgmemo.yaml:2: rules[0].match.tables[0]: invalid table name \"a.b.c\" "
                        + "(expected e.g. users, public.users, app.*, *_log)");
        assertThat(message("rules:\n  - match: {query: '  '}\n")).isEqualTo(
                "pgmemo.yaml:2: rules[0].match.query: empty query");
    }

    @Test
    void badStoreUrlNeverShowsThePassword() {
        assertThat(message("cache:\n  store: memcached://cache:11211\n")).isEqualTo(
                "pgmemo.yaml:2: cache.store: invalid store \"memcached://cache:11211\": unsupported scheme "
                        + "\"memcached\" (expected redis://host:port[/db], rediss://host:port[/db], "
                        + "redis-sentinel://host:port[,host:port...][/db]#master, "
                        + "redis-cluster://host:port[,host:port...] or redis-socket:///path/to/redis.sock[?database=n]; "
                        + "leave store out for the in-process store)");
        assertThat(message("cache:\n  store: redis://user:hunter2@cache:port/0\n")).isEqualTo(
                "pgmemo.yaml:2: cache.store: invalid store \"redis://user:***@cache:port/0\": "
                        + "port \"port\" is not a number from 1 to 65535");
        assertThat(message("cache:\n  store: redis://cache:6379/zero\n")).startsWith(
                "pgmemo.yaml:2: cache.store: invalid store \"redis://cache:6379/zero\": database \"zero\" is not a "
                        + "number (expected redis://host:port[/db], ");
        assertThat(message("cache:\n  store: localhost:6379\n")).contains(
                "pgmemo.yaml:2: cache.store: invalid store \"localhost:6379\" (expected redis://");
    }

    @Test
    void sentinelAndClusterStoreUrls() {
        for (String ok : List.of("redis-sentinel://s1:26379,s2:26379/0#mymaster", "rediss-sentinel://pw@s1#m",
                "redis-cluster://n1:7000,n2:7001,[::1]:7002", "rediss-cluster://user:pw@n1:7000")) {
            assertThat(parsed("cache:\n  store: " + ok + "\n").cache().store()).isEqualTo(ok);
        }
        assertThat(message("cache:\n  store: redis-sentinel://:hunter2@s1:26379\n")).isEqualTo(
                "pgmemo.yaml:2: cache.store: invalid store \"redis-sentinel://:***@s1:26379\": a Sentinel URL names "
                        + "the master after '#' (redis-sentinel://host:26379#mymaster)");
        assertThat(message("cache:\n  store: redis-cluster://n1:7000/1\n")).isEqualTo(
                "pgmemo.yaml:2: cache.store: invalid store \"redis-cluster://n1:7000/1\": Redis Cluster has only "
                        + "database 0 (remove /1)");
        assertThat(message("cache:\n  store: redis://a:6379,b:6379\n")).startsWith(
                "pgmemo.yaml:2: cache.store: invalid store \"redis://a:6379,b:6379\": several hosts need "
                        + "redis-sentinel:// or redis-cluster://");
        assertThat(message("cache:\n  store: redis-cluster://n1:7000,,n2:7001\n")).startsWith(
                "pgmemo.yaml:2: cache.store: invalid store \"redis-cluster://n1:7000,,n2:7001\" (expected");
        assertThat(message("cache:\n  store: redis-cluster://n1:70000\n")).isEqualTo(
                "pgmemo.yaml:2: cache.store: invalid store \"redis-cluster://n1:70000\": port 70000 is out of range "
                        + "1-65535");
    }

    @Test
    void unixSocketStoreUrls() {
        for (String ok : List.of("redis-socket:///var/run/redis/redis.sock", "redis-socket:///tmp/r.sock?database=3",
                "redis-socket://:pw@/tmp/r.sock", "redis-socket://user:pw@/tmp/r.sock?db=2",
                "redis-socket:///tmp/with%20space.sock")) {
            assertThat(parsed("cache:\n  store: " + ok + "\n").cache().store()).isEqualTo(ok);
        }
        String noPath = "pgmemo.yaml:2: cache.store: invalid store %s: a socket URL names the socket's absolute path "
                + "after \"redis-socket://\" (redis-socket:///var/run/redis/redis.sock)";
        assertThat(message("cache:\n  store: redis-socket://redis.sock\n"))
                .isEqualTo(noPath.formatted("\"redis-socket://redis.sock\""));
        assertThat(message("cache:\n  store: redis-socket://localhost/tmp/r.sock\n"))
                .isEqualTo(noPath.formatted("\"redis-socket://localhost/tmp/r.sock\""));
        assertThat(message("cache:\n  store: redis-socket:///tmp/\n"))
                .isEqualTo(noPath.formatted("\"redis-socket:///tmp/\""));
        assertThat(message("cache:\n  store: redis-socket://:hunter2@/tmp/r.sock?timeout=5s\n")).isEqualTo(
                "pgmemo.yaml:2: cache.store: invalid store \"redis-socket://:***@/tmp/r.sock?timeout=5s\": the only "
                        + "URL parameter of a socket URL is database=n (expected redis://host:port[/db], "
                        + "rediss://host:port[/db], redis-sentinel://host:port[,host:port...][/db]#master, "
                        + "redis-cluster://host:port[,host:port...] or redis-socket:///path/to/redis.sock[?database=n])");
        assertThat(message("cache:\n  store: redis-socket:///tmp/r.sock?database=x\n")).startsWith(
                "pgmemo.yaml:2: cache.store: invalid store \"redis-socket:///tmp/r.sock?database=x\": database \"x\" "
                        + "is not a number");
        assertThat(message("cache:\n  store: redis-socket://:pa/ss@/tmp/r.sock?x=1\n"))
                .startsWith("pgmemo.yaml:2: cache.store: invalid store \"redis-socket://:***@/tmp/r.sock?x=1\"")
                .doesNotContain("pa/ss");
        assertThat(message("cache:\n  store: redis://u:pa/ss@cache:port\n")).doesNotContain("pa/ss").contains("u:***@");
        String longPath = "/tmp/" + "d".repeat(100) + "/redis.sock";
        assertThat(message("cache:\n  store: redis-socket://" + longPath + "\n")).endsWith(
                ": socket path is longer than 107 bytes, which Linux does not allow");
    }

    @Test
    void storeCaIsAPemFileForATlsStore() throws Exception {
        String p = dir.resolve("p.yaml").toString();
        java.nio.file.Files.copy(ConfigLoaderTest.resource("/test-ca.crt"), dir.resolve("ca.crt"));
        assertThat(ConfigLoader.parse("cache:\n  store: rediss://cache:6380\n  store_ca: ca.crt\n", p).cache().storeCa())
                .isEqualTo(dir.resolve("ca.crt"));
        assertThat(ConfigLoader.parse("cache:\n  store: rediss-cluster://n1:7000\n  store_ca: ca.crt\n", p).cache()
                .storeCa()).isEqualTo(dir.resolve("ca.crt"));
        assertThat(thrownBy(() -> ConfigLoader.parse("cache:\n  store: redis://cache:6379\n  store_ca: ca.crt\n", p))
                .getMessage()).isEqualTo(p + ":3: cache.store_ca: applies to a TLS store only (rediss://, "
                        + "rediss-sentinel://, rediss-cluster://)");
        assertThat(thrownBy(() -> ConfigLoader.parse("cache:\n  store_ca: ca.crt\n", p)).getMessage())
                .endsWith("; no store is configured");
        assertThat(thrownBy(() -> ConfigLoader.parse("cache:\n  store: rediss://c:1\n  store_ca: none.crt\n", p))
                .getMessage()).isEqualTo(p + ":3: cache.store_ca: file not found: " + dir.resolve("none.crt"));
        java.nio.file.Files.writeString(dir.resolve("junk.crt"), "not a certificate\n");
        assertThat(thrownBy(() -> ConfigLoader.parse("cache:\n  store: rediss://c:1\n  store_ca: junk.crt\n", p))
                .getMessage()).startsWith(p + ":3: cache.store_ca: ");
    }

    @Test
    void upstreamMustNotCarryCredentialsOrDatabase() {
        String withPassword = message("upstream: postgresql://app:hunter2@db:5432\n");
        assertThat(withPassword).isEqualTo("pgmemo.yaml:1: upstream: upstream must not contain a user name or "
                + "password: each client logs in with its own, which pgmemo passes through (remove the part before '@')");
        assertThat(withPassword).doesNotContain("hunter2");
        assertThat(message("upstream: postgresql://db:5432/app\n")).isEqualTo(
                "pgmemo.yaml:1: upstream: upstream must not name a database (\"app\"): each client chooses its "
                        + "database when it connects (use postgresql://db:5432)");
        assertThat(message("upstream: postgresql://db?sslmode=verify_full\n")).isEqualTo(
                "pgmemo.yaml:1: upstream: invalid sslmode \"verify_full\": expected disable, prefer, require, "
                        + "verify-ca or verify-full (did you mean verify-full?)");
        assertThat(message("upstream: postgresql://db?sslrootcert=ca.crt\n")).startsWith(
                "pgmemo.yaml:1: upstream: sslrootcert is given but sslmode is disable");
    }

    @Test
    void sslRootCertMustBeReadable() {
        ConfigException e = thrownBy(() -> ConfigLoader.parse(
                "upstream: postgresql://db?sslmode=verify-ca&sslrootcert=ca.crt\n", dir.resolve("p.yaml").toString()));
        assertThat(e.getMessage()).endsWith("p.yaml:1: upstream: sslrootcert file not found: " + dir.resolve("ca.crt"));
    }

    @Test
    void addressesMustNotCollide() {
        assertThat(message("listen: 127.0.0.1:6433\nadmin:\n  listen: 127.0.0.1:6433\n")).isEqualTo(
                "pgmemo.yaml:3: admin.listen: same address as listen (127.0.0.1:6433); "
                        + "give the admin endpoint its own port");
        assertThat(message("listen: 127.0.0.1:5432\n")).isEqualTo(
                "pgmemo.yaml:1: upstream: points at pgmemo's own listen address 127.0.0.1:5432; "
                        + "give PostgreSQL's address");
    }

    @Test
    void pidFileDirectoryMustExist() {
        ConfigException e = thrownBy(() -> ConfigLoader.parse("pid_file: no/such/dir/pgmemo.pid\n",
                dir.resolve("p.yaml").toString()));
        assertThat(e.getMessage()).isEqualTo(dir.resolve("p.yaml") + ":1: pid_file: directory "
                + dir.resolve("no/such/dir") + " does not exist");
    }

    @Test
    void unixSocketListener() throws Exception {
        String p = dir.resolve("p.yaml").toString();
        PgmemoConfig c = ConfigLoader.parse("listen: 127.0.0.1:7433\nunix_socket_dir: " + dir + "\n", p);
        assertThat(c.unixSocket()).isEqualTo(new UnixSocketListen(dir, 0777));
        assertThat(c.unixSocket().socket(7433)).isEqualTo(dir.resolve(".s.PGSQL.7433"));
        java.nio.file.Files.createDirectories(dir.resolve("run"));
        assertThat(ConfigLoader.parse("unix_socket_dir: run\nunix_socket_mode: 0770\n", p).unixSocket())
                .isEqualTo(new UnixSocketListen(dir.resolve("run"), 0770));
        assertThat(ConfigLoader.parse("unix_socket_dir: run\nunix_socket_mode: \"700\"\n", p).unixSocket().mode())
                .isEqualTo(0700);
        assertThat(ConfigLoader.parse("listen: 127.0.0.1:7433\n", p).unixSocket()).isNull();
        assertThat(ConfigLoader.parse("unix_socket_dir: \"\"\n", p).unixSocket()).as("empty: none").isNull();
        assertThat(ConfigLoader.parse("unix_socket_dir:\n", p).unixSocket()).as("empty: none").isNull();

        assertThat(thrownBy(() -> ConfigLoader.parse("unix_socket_dir: nowhere\n", p)).getMessage())
                .isEqualTo(p + ":1: unix_socket_dir: directory " + dir.resolve("nowhere") + " does not exist");
        assertThat(thrownBy(() -> ConfigLoader.parse("unix_socket_mode: 0770\n", p)).getMessage())
                .isEqualTo(p + ":1: unix_socket_mode: needs unix_socket_dir (the directory of the socket)");
        assertThat(thrownBy(() -> ConfigLoader.parse("unix_socket_dir: run\nunix_socket_mode: rwx\n", p)).getMessage())
                .isEqualTo(p + ":2: unix_socket_mode: invalid mode \"rwx\" (expected octal permission bits, e.g. "
                        + "\"0777\" or \"0770\")");
        assertThat(thrownBy(() -> ConfigLoader.parse("unix_socket_dir: run\nunix_socket_mode: 0789\n", p))
                .getMessage()).contains("unix_socket_mode: invalid mode \"0789\"");
        Path deep = java.nio.file.Files.createDirectories(dir.resolve("d".repeat(100)));
        assertThat(thrownBy(() -> ConfigLoader.parse("unix_socket_dir: " + deep + "\n", p)).getMessage())
                .isEqualTo(p + ":1: unix_socket_dir: socket path " + deep.resolve(".s.PGSQL.6433")
                        + " is longer than 107 bytes, which Linux does not allow");
    }

    @Test
    void yamlSyntaxErrorCarriesSnakeYamlsLine() {
        ConfigException e = error("listen: 127.0.0.1:6433\ncache:\n  store: redis://x\n   default_ttl: 5s\n");
        assertThat(e.line()).isEqualTo(4);
        assertThat(e.key()).isNull();
        assertThat(e.getMessage()).startsWith("pgmemo.yaml:4: invalid YAML: ");

        ConfigException unclosed = error("rules:\n  - match: { tables: [a, b }\n");
        assertThat(unclosed.line()).isEqualTo(2);
        assertThat(unclosed.getMessage()).startsWith("pgmemo.yaml:2: invalid YAML: ");

        ConfigException tab = error("cache:\n\tstore: redis://x\n");
        assertThat(tab.line()).isEqualTo(2);

        assertThat(message("rules:\n - match: {tables: [a]}\n  ttl: 5s\n")).isEqualTo(
                "pgmemo.yaml:3: invalid YAML: expected <block end>, but found '<block mapping start>' (column 3), "
                        + "while parsing a block collection at line 2; check the indentation");
    }

    @Test
    void twoDocumentsAreAnError() {
        ConfigException e = error("listen: a:1\n---\nlisten: b:2\n");
        assertThat(e.line()).isEqualTo(2);
        assertThat(e.getMessage()).isEqualTo("pgmemo.yaml:2: invalid YAML: expected a single document in the stream "
                + "at line 1, but found another document (column 1)");
    }
}
