package dev.pgmemo.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatIllegalArgumentException;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class PgmemoConfigTest {
    private final PgmemoConfig base = ConfigLoader.defaults();

    @Test
    void withersReplaceOneComponentEach() {
        HostPort listen = new HostPort("localhost", 0);
        AdminConfig admin = new AdminConfig(new HostPort("localhost", 0), false);
        CacheConfig cache = CacheConfig.defaults().withStore("redis://localhost:6379").withDefaultTtl(Duration.ZERO);
        UpstreamConfig upstream = new UpstreamConfig("db", 5433, SslMode.REQUIRE, null);
        TlsConfig tls = new TlsConfig(Path.of("/c.crt"), Path.of("/c.key"));
        List<Rule> rules = List.of(new Rule(0, 0, new RuleMatch(List.of("users"), null, null), null, true));

        PgmemoConfig c = base.withListen(listen).withAdmin(admin).withCache(cache).withUpstream(upstream)
                .withTls(tls).withRules(rules);

        assertThat(c.listen()).isEqualTo(listen);
        assertThat(c.admin()).isEqualTo(admin);
        assertThat(c.cache()).isEqualTo(cache);
        assertThat(c.cache().inProcessStore()).isFalse();
        assertThat(c.upstream()).isEqualTo(upstream);
        assertThat(c.tls()).isEqualTo(tls);
        assertThat(c.rules()).isEqualTo(rules);
        assertThat(c.maxMessageSize()).isEqualTo(base.maxMessageSize());
        assertThat(c.connectTimeout()).isEqualTo(base.connectTimeout());
        assertThat(c.withTls(null).tls()).isNull();
        assertThat(base.listen()).isEqualTo(PgmemoConfig.DEFAULT_LISTEN);
    }

    @Test
    void rulesAreAnImmutableCopy() {
        List<Rule> rules = new ArrayList<>();
        rules.add(new Rule(0, 0, new RuleMatch(List.of("a"), null, null), null, true));
        PgmemoConfig c = base.withRules(rules);
        rules.clear();
        assertThat(c.rules()).hasSize(1);
        assertThat(base.withRules(null).rules()).isEmpty();
    }

    @Test
    void ruleMatchNeedsACondition() {
        assertThatIllegalArgumentException().isThrownBy(() -> new RuleMatch(List.of(), null, null));
        assertThat(new RuleMatch(null, "SELECT 1", null).tables()).isEmpty();
    }

    @Test
    void ruleMatchesCompareRegexBySource() {
        RuleMatch a = new RuleMatch(List.of("t"), null, Pattern.compile("x+"));
        RuleMatch b = new RuleMatch(List.of("t"), null, Pattern.compile("x+"));
        assertThat(a).isEqualTo(b).hasSameHashCodeAs(b);
        assertThat(a).isNotEqualTo(new RuleMatch(List.of("t"), null, Pattern.compile("x+", Pattern.CASE_INSENSITIVE)));
    }

    @Test
    void reloadingTheSameFileGivesAnEqualConfig() throws Exception {
        Path file = ConfigLoaderTest.resource("/full/pgmemo.yaml");
        assertThat(ConfigLoader.load(file)).isEqualTo(ConfigLoader.load(file));
    }

    @Test
    void ruleTtlFallsBackToTheDefault() {
        RuleMatch m = new RuleMatch(List.of("t"), null, null);
        assertThat(new Rule(0, 1, m, null, true).ttlOr(Duration.ofSeconds(60))).isEqualTo(Duration.ofSeconds(60));
        assertThat(new Rule(0, 1, m, Duration.ofMinutes(5), true).ttlOr(Duration.ofSeconds(60)))
                .isEqualTo(Duration.ofMinutes(5));
    }

    @Test
    void cacheConfigHidesTheStorePassword() {
        CacheConfig c = CacheConfig.defaults().withStore("redis://default:hunter2@cache:6379/0");
        assertThat(c.toString()).contains("store=redis://default:***@cache:6379/0").doesNotContain("hunter2");
        assertThat(CacheConfig.defaults().withStore("rediss://hunter2@cache").toString())
                .contains("store=rediss://:***@cache").doesNotContain("hunter2");
        assertThat(CacheConfig.defaults().withStore("redis-sentinel://hunter2@s1:26379,s2:26379/0#mymaster").toString())
                .contains("store=redis-sentinel://:***@s1:26379,s2:26379/0#mymaster").doesNotContain("hunter2");
        assertThat(CacheConfig.defaults().withStore("redis-sentinel://s1:26379#my@master").toString())
                .contains("store=redis-sentinel://s1:26379#my@master");
        assertThat(CacheConfig.defaults().withStore("redis-cluster://app:hunter2@n1:7000,n2:7001").toString())
                .contains("store=redis-cluster://app:***@n1:7000,n2:7001").doesNotContain("hunter2");
        assertThat(CacheConfig.defaults().withStore("redis://:hunter#2@cache:6379").toString())
                .contains("store=redis://:***@cache:6379").doesNotContain("hunter");
        assertThat(CacheConfig.defaults().toString()).contains("store=null");
        assertThat(base.toString()).contains("CacheConfig[enabled=true");
    }
}
