package dev.pgmemo.cache.policy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.pgmemo.cache.analysis.Fingerprint;
import dev.pgmemo.config.CacheConfig;
import dev.pgmemo.config.ConfigException;
import dev.pgmemo.config.ConfigLoader;
import dev.pgmemo.config.PgmemoConfig;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class CachePolicyTest {

    private static CachePolicy policy(String yaml) throws ConfigException {
        PgmemoConfig cfg = ConfigLoader.parse(yaml, "test.yaml");
        return new CachePolicy(cfg.cache(), cfg.rules(), Fingerprint::of);
    }

    @Test
    void queriesNoRuleMatchesUseDefaultTtl() throws Exception {
        CachePolicy p = policy("cache: {default_ttl: 42s}\nrules:\n  - match: {tables: [config]}\n    ttl: 1h\n");
        CachePolicy.Decision d = p.decide(List.of("public.users"), "select * from users", "select * from users");
        assertThat(d.cache()).isTrue();
        assertThat(d.ttl()).isEqualTo(Duration.ofSeconds(42));
        assertThat(d.rule()).isEqualTo(-1);
    }

    @Test
    void zeroDefaultTtlCachesOnlyWhatRulesMatch() throws Exception {
        CachePolicy p = policy("cache: {default_ttl: 0}\nrules:\n  - match: {tables: [config]}\n    ttl: 1h\n");
        assertThat(p.decide(List.of("public.users"), "x", "x").cache()).isFalse();
        assertThat(p.decide(List.of("public.config"), "x", "x").ttl()).isEqualTo(Duration.ofHours(1));
    }

    @Test
    void firstMatchingRuleWins() throws Exception {
        CachePolicy p = policy("""
                rules:
                  - match: {tables: [audit_log]}
                    cache: false
                  - match: {tables: ["*"]}
                    ttl: 5m
                """);
        assertThat(p.decide(List.of("public.audit_log"), "x", "x").cache()).isFalse();
        assertThat(p.decide(List.of("public.orders"), "x", "x").ttl()).isEqualTo(Duration.ofMinutes(5));
    }

    @Test
    void rememberedTableMatchesGiveTheSameAnswersAsFreshOnes() throws Exception {
        CachePolicy p = policy("rules:\n  - match: {tables: [\"app.cfg_*\"]}\n    ttl: 1h\n");
        // More distinct tables than the memo keeps, twice over: every answer must stay what the patterns say.
        for (int round = 0; round < 2; round++) {
            for (int i = 0; i < CachePolicy.MAX_REMEMBERED_TABLES + 100; i++) {
                assertThat(p.decide(List.of("app.cfg_" + i), "x", "x").rule()).isZero();
                assertThat(p.decide(List.of("other.cfg_" + i), "x", "x").rule()).isEqualTo(-1);
                assertThat(p.decide(List.of("app.cfg_" + i, "app.orders"), "x", "x").rule()).isEqualTo(-1);
            }
        }
    }

    @Test
    void tablesRuleNeedsEveryTableOfTheQueryListed() throws Exception {
        CachePolicy p = policy("rules:\n  - match: {tables: [config, countries]}\n    ttl: 1h\n");
        assertThat(p.decide(List.of("public.config", "public.countries"), "x", "x").rule()).isZero();
        assertThat(p.decide(List.of("public.config", "public.orders"), "x", "x").rule()).isEqualTo(-1);
        assertThat(p.decide(List.of(), "x", "x").rule()).isEqualTo(-1);
    }

    @Test
    void schemaQualifiedAndGlobPatterns() throws Exception {
        CachePolicy p = policy("""
                rules:
                  - match: {tables: [app.settings]}
                    ttl: 1h
                  - match: {tables: ["*_log"]}
                    cache: false
                  - match: {tables: ["reporting.*"]}
                    ttl: 10m
                """);
        assertThat(p.decide(List.of("app.settings"), "x", "x").rule()).isZero();
        assertThat(p.decide(List.of("public.settings"), "x", "x").rule()).isEqualTo(-1);
        assertThat(p.decide(List.of("public.access_log"), "x", "x").cache()).isFalse();
        assertThat(p.decide(List.of("reporting.daily"), "x", "x").rule()).isEqualTo(2);
        assertThat(p.decide(List.of("public.daily"), "x", "x").rule()).isEqualTo(-1);
    }

    @Test
    void unquotedPatternsIgnoreCaseQuotedOnesDoNot() throws Exception {
        CachePolicy p = policy("rules:\n  - match: {tables: [Users]}\n    ttl: 1h\n  - match: {tables: ['\"Mixed\"']}\n    ttl: 2h\n");
        assertThat(p.decide(List.of("public.users"), "x", "x").rule()).isZero();
        assertThat(p.decide(List.of("public.Mixed"), "x", "x").rule()).isEqualTo(1);
        assertThat(p.decide(List.of("public.mixed"), "x", "x").rule()).isEqualTo(-1);
    }

    @Test
    void queryRuleMatchesTheNormalizedForm() throws Exception {
        CachePolicy p = policy("rules:\n  - match: {query: \"SELECT * FROM users WHERE id = ?\"}\n    ttl: 5m\n");
        String sql = "select *  from USERS where id = 42";
        assertThat(p.decide(List.of("public.users"), Fingerprint.of(sql), sql).rule()).isZero();
        String other = "select * from users where name = 'x'";
        assertThat(p.decide(List.of("public.users"), Fingerprint.of(other), other).rule()).isEqualTo(-1);
    }

    @Test
    void patternRuleSearchesTheSqlText() throws Exception {
        CachePolicy p = policy("rules:\n  - match: {pattern: \"/\\\\* nocache \\\\*/\"}\n    cache: false\n");
        assertThat(p.decide(List.of("public.t"), "x", "select /* nocache */ 1").cache()).isFalse();
        assertThat(p.decide(List.of("public.t"), "x", "select 1").cache()).isTrue();
    }

    @Test
    void allConditionsOfOneMatchMustHold() throws Exception {
        CachePolicy p = policy("rules:\n  - match: {tables: [t], pattern: \"limit\"}\n    ttl: 1s\n");
        assertThat(p.decide(List.of("public.t"), "x", "select * from t limit 1").rule()).isZero();
        assertThat(p.decide(List.of("public.t"), "x", "select * from t").rule()).isEqualTo(-1);
        assertThat(p.decide(List.of("public.u"), "x", "select * from u limit 1").rule()).isEqualTo(-1);
    }

    @Test
    void zeroTtlRuleMeansNotCached() throws Exception {
        CachePolicy p = policy("rules:\n  - match: {tables: [t]}\n    ttl: 0\n");
        assertThat(p.decide(List.of("public.t"), "x", "x").cache()).isFalse();
        assertThat(CacheConfig.DEFAULT_TTL).isEqualTo(Duration.ofSeconds(60));
    }
}
