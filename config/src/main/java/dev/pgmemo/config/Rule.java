package dev.pgmemo.config;

import java.time.Duration;
import java.util.Objects;

/**
 * One caching rule; rules are tried in file order and the first match wins.
 *
 * @param index position in the {@code rules} list, from 0
 * @param line  line of the rule in the config file (0 when built in code), for logs and metrics
 * @param ttl   how long a result may be served from cache; null = {@code cache.default_ttl}
 * @param cache false = never cache what this rule matches
 */
public record Rule(int index, int line, RuleMatch match, Duration ttl, boolean cache) {
    public Rule {
        Objects.requireNonNull(match, "match");
        if (ttl != null && ttl.isNegative()) {
            throw new IllegalArgumentException("negative ttl");
        }
    }

    /** This rule's ttl, or {@code defaultTtl} when it has none. */
    public Duration ttlOr(Duration defaultTtl) {
        return ttl != null ? ttl : defaultTtl;
    }
}
