package dev.pgmemo.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
    @TempDir
    Path dir;

    @Test
    void defaultsMatchTheDocumentedValues() {
        PgmemoConfig c = ConfigLoader.defaults();
        assertThat(c.source()).isNull();
        assertThat(c.listen()).isEqualTo(new HostPort("127.0.0.1", 6433));
        assertThat(c.upstream()).isEqualTo(new UpstreamConfig("127.0.0.1", 5432, SslMode.DISABLE, null));
        assertThat(c.tls()).isNull();
        assertThat(c.admin()).isEqualTo(new AdminConfig(new HostPort("127.0.0.1", 9433), true));
        assertThat(c.cache()).isEqualTo(new CacheConfig(true, null, Duration.ofSeconds(60), 1 << 20, 256L << 20,
                Duration.ofMillis(200), 10_000, CacheConfig.Admission.COST, null));
        assertThat(c.rules()).isEmpty();
        assertThat(c.maxMessageSize()).isEqualTo(1L << 30);
        assertThat(c.connectTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(c.startupTimeout()).isEqualTo(Duration.ofSeconds(60));
        assertThat(c.drainTimeout()).isEqualTo(Duration.ofSeconds(30));
        assertThat(c.pidFile()).isNull();
    }

    @Test
    void admissionIsCostUnlessSetToAll() throws Exception {
        assertThat(ConfigLoader.parse("cache:\n  admission: all\n", "pgmemo.yaml").cache().admission())
                .isEqualTo(CacheConfig.Admission.ALL);
        assertThat(ConfigLoader.parse("cache:\n  admission: cost\n", "pgmemo.yaml").cache().admission())
                .isEqualTo(CacheConfig.Admission.COST);
        assertThat(ConfigLoader.parse("cache:\n  default_ttl: 5s\n", "pgmemo.yaml").cache().admission())
                .isEqualTo(CacheConfig.Admission.COST);
    }

    @Test
    void emptyOrCommentOnlyTextGivesDefaults() throws Exception {
        assertThat(ConfigLoader.parse("", "pgmemo.yaml")).isEqualTo(ConfigLoader.defaults());
        assertThat(ConfigLoader.parse("# nothing yet\n\n", "pgmemo.yaml")).isEqualTo(ConfigLoader.defaults());
        assertThat(ConfigLoader.parse("---\n", "pgmemo.yaml")).isEqualTo(ConfigLoader.defaults());
    }

    @Test
    void emptyFileGivesDefaultsWithItsSource() throws Exception {
        Path file = Files.createFile(dir.resolve("pgmemo.yaml"));
        PgmemoConfig c = ConfigLoader.load(file);
        assertThat(c.source()).isEqualTo(file.toAbsolutePath());
        assertThat(c).isEqualTo(withSource(ConfigLoader.defaults(), c.source()));
    }

    @Test
    void loadsFullExampleWithEveryKeySet() throws Exception {
        Path file = resource("/full/pgmemo.yaml");
        Path base = file.getParent();
        PgmemoConfig c = ConfigLoader.load(file);

        assertThat(c.source()).isEqualTo(file);
        assertThat(c.listen()).isEqualTo(new HostPort("0.0.0.0", 7433));
        assertThat(c.upstream()).isEqualTo(new UpstreamConfig("fd00::5", 6543, SslMode.VERIFY_FULL,
                base.resolve("certs/db-ca.crt")));
        assertThat(c.connectTimeout()).isEqualTo(Duration.ofSeconds(2));
        assertThat(c.startupTimeout()).isEqualTo(Duration.ofMinutes(1));
        assertThat(c.drainTimeout()).isZero();
        assertThat(c.maxMessageSize()).isEqualTo(64L << 20);
        assertThat(c.pidFile()).isEqualTo(base.resolve("pgmemo.pid"));
        assertThat(c.tls()).isEqualTo(new TlsConfig(base.resolve("certs/server.crt"), base.resolve("certs/server.key")));
        assertThat(c.admin()).isEqualTo(new AdminConfig(new HostPort("::1", 9500), false));
        assertThat(c.cache()).isEqualTo(new CacheConfig(false, "rediss://:s3cret@redis.internal:6380/2", Duration.ZERO,
                512 << 10, 1_000_000_000L, Duration.ofMillis(1500), 20_000, CacheConfig.Admission.COST, null));

        assertThat(c.rules()).hasSize(3);
        Rule first = c.rules().get(0);
        assertThat(first.index()).isZero();
        assertThat(first.line()).isEqualTo(24);
        assertThat(first.match().tables()).containsExactly("config", "countries");
        assertThat(first.ttl()).isEqualTo(Duration.ofHours(1));
        assertThat(first.cache()).isTrue();

        Rule second = c.rules().get(1);
        assertThat(second.line()).isEqualTo(26);
        assertThat(second.match().tables()).isEmpty();
        assertThat(second.match().query()).isEqualTo("SELECT * FROM users WHERE id = ?");
        assertThat(second.match().pattern()).isNull();

        Rule third = c.rules().get(2);
        assertThat(third.index()).isEqualTo(2);
        assertThat(third.match().tables()).containsExactly("audit_log", "app.*", "*_queue", "\"Weird Name\"");
        assertThat(third.match().pattern().matcher("select * from t FOR  UPDATE").find()).isTrue();
        assertThat(third.cache()).isFalse();
        assertThat(third.ttl()).isEqualTo(Duration.ofSeconds(10));
    }

    @Test
    void shippedExampleLoadsAndStatesTheDefaults() throws Exception {
        PgmemoConfig example = ConfigLoader.load(Path.of("pgmemo.example.yaml"));
        PgmemoConfig defaults = withSource(ConfigLoader.defaults(), example.source());

        assertThat(example.withRules(List.of())).isEqualTo(defaults);
        assertThat(example.rules()).extracting(Rule::cache).containsExactly(true, true, false, false);
    }

    @Test
    void parseResolvesRelativePathsAgainstTheSourceNamesDirectory() throws Exception {
        Files.createDirectories(dir.resolve("certs"));
        Files.writeString(dir.resolve("certs/a.crt"), "cert");
        Files.writeString(dir.resolve("certs/a.key"), "key");
        String yaml = "tls: {cert: certs/a.crt, key: " + dir.resolve("certs/a.key") + "}\npid_file: run.pid\n";

        PgmemoConfig c = ConfigLoader.parse(yaml, dir.resolve("pgmemo.yaml").toString());

        assertThat(c.source()).isNull();
        assertThat(c.tls().cert()).isEqualTo(dir.resolve("certs/a.crt"));
        assertThat(c.tls().key()).isEqualTo(dir.resolve("certs/a.key"));
        assertThat(c.pidFile()).isEqualTo(dir.resolve("run.pid"));
    }

    @Test
    void acceptsYamlNullAsTheDefault() throws Exception {
        PgmemoConfig c = ConfigLoader.parse("listen:\ncache:\n  store: ~\nrules:\ntls: null\n", "pgmemo.yaml");
        assertThat(c).isEqualTo(ConfigLoader.defaults());
    }

    @Test
    void acceptsAliases() throws Exception {
        String yaml = """
                rules:
                  - match: { tables: &static [config, countries] }
                    ttl: 1h
                  - match: { tables: *static, query: "SELECT 1" }
                    cache: false
                """;
        PgmemoConfig c = ConfigLoader.parse(yaml, "pgmemo.yaml");
        assertThat(c.rules().get(1).match().tables()).containsExactly("config", "countries");
    }

    @Test
    void acceptsByteOrderMarkAndYamlBooleanSpellings() throws Exception {
        PgmemoConfig c = ConfigLoader.parse("\uFEFFcache:\n  enabled: off\nadmin:\n  enabled: False\n", "x.yaml");
        assertThat(c.cache().enabled()).isFalse();
        assertThat(c.admin().enabled()).isFalse();
    }

    @Test
    void allowsEphemeralPortsForTests() throws Exception {
        PgmemoConfig c = ConfigLoader.parse("listen: localhost:0\nadmin: {listen: 'localhost:0'}\n", "x.yaml");
        assertThat(c.listen()).isEqualTo(new HostPort("localhost", 0));
        assertThat(c.admin().listen()).isEqualTo(new HostPort("localhost", 0));
    }

    @Test
    void missingFileIsAClearError() {
        Path file = dir.resolve("nope.yaml");
        ConfigException e = ConfigErrorsTest.thrownBy(() -> ConfigLoader.load(file));
        assertThat(e.getMessage()).isEqualTo(file + ": config file not found");
        assertThat(e.file()).isEqualTo(file.toString());
        assertThat(e.line()).isZero();
        assertThat(e.key()).isNull();
    }

    @Test
    void directoryIsNotAConfigFile() {
        ConfigException e = ConfigErrorsTest.thrownBy(() -> ConfigLoader.load(dir));
        assertThat(e.getMessage()).isEqualTo(dir + ": is a directory, not a config file");
    }

    @Test
    void fileThatIsNotUtf8IsAClearError() throws Exception {
        Path file = Files.write(dir.resolve("latin1.yaml"), "listen: caf\u00e9:1\n".getBytes(StandardCharsets.ISO_8859_1));
        ConfigException e = ConfigErrorsTest.thrownBy(() -> ConfigLoader.load(file));
        assertThat(e.getMessage()).isEqualTo(file + ": config file is not valid UTF-8 text");
    }

    @Test
    void errorsFromLoadNameTheFileAsGiven() throws Exception {
        Path file = Files.writeString(dir.resolve("pgmemo.yaml"), "listen: 127.0.0.1:6433\nlisen: x\n");
        ConfigException e = ConfigErrorsTest.thrownBy(() -> ConfigLoader.load(file));
        assertThat(e.getMessage()).isEqualTo(file + ":2: lisen: unknown key (did you mean listen?)");
    }

    static Path resource(String name) throws URISyntaxException {
        return Path.of(ConfigLoaderTest.class.getResource(name).toURI());
    }

    private static PgmemoConfig withSource(PgmemoConfig c, Path source) {
        return new PgmemoConfig(source, c.listen(), c.upstream(), c.tls(), c.admin(), c.cache(), c.rules(),
                c.maxMessageSize(), c.connectTimeout(), c.startupTimeout(), c.drainTimeout(), c.pidFile(),
                c.unixSocket());
    }
}
