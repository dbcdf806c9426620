package dev.pgmemo.config;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * The whole, validated pgmemo configuration. Build it with {@link ConfigLoader}; tests adjust it
 * with the {@code with...} methods.
 *
 * @param source         absolute path of the file it was loaded from; null for defaults and {@code parse}
 * @param listen         where clients connect
 * @param tls            client-facing TLS; null = pgmemo refuses clients' SSLRequest (answers 'N')
 * @param rules          tried in order, first match wins
 * @param maxMessageSize largest protocol message accepted from either side
 * @param connectTimeout opening a connection to PostgreSQL
 * @param startupTimeout a client's whole startup and authentication, like authentication_timeout
 * @param drainTimeout   how long a graceful stop waits for open transactions
 * @param pidFile        absolute; null = the CLI picks one
 */
public record PgmemoConfig(Path source, HostPort listen, UpstreamConfig upstream, TlsConfig tls,
                           AdminConfig admin, CacheConfig cache, List<Rule> rules, long maxMessageSize,
                           Duration connectTimeout, Duration startupTimeout, Duration drainTimeout,
                           Path pidFile, UnixSocketListen unixSocket) {
    public static final HostPort DEFAULT_LISTEN = new HostPort("127.0.0.1", 6433);
    /** PostgreSQL itself allocates at most 1GiB (MaxAllocSize) for one message. */
    public static final long MAX_MESSAGE_SIZE_LIMIT = 1L << 30;
    public static final long MIN_MESSAGE_SIZE_LIMIT = 1L << 10;
    public static final long DEFAULT_MAX_MESSAGE_SIZE = MAX_MESSAGE_SIZE_LIMIT;
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(5);
    public static final Duration DEFAULT_STARTUP_TIMEOUT = Duration.ofSeconds(60);
    public static final Duration DEFAULT_DRAIN_TIMEOUT = Duration.ofSeconds(30);

    public PgmemoConfig {
        Objects.requireNonNull(listen, "listen");
        Objects.requireNonNull(upstream, "upstream");
        Objects.requireNonNull(admin, "admin");
        Objects.requireNonNull(cache, "cache");
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        Objects.requireNonNull(startupTimeout, "startupTimeout");
        Objects.requireNonNull(drainTimeout, "drainTimeout");
        rules = rules == null ? List.of() : List.copyOf(rules);
    }

    public PgmemoConfig withListen(HostPort newListen) {
        return new PgmemoConfig(source, newListen, upstream, tls, admin, cache, rules, maxMessageSize,
                connectTimeout, startupTimeout, drainTimeout, pidFile, unixSocket);
    }

    public PgmemoConfig withUpstream(UpstreamConfig newUpstream) {
        return new PgmemoConfig(source, listen, newUpstream, tls, admin, cache, rules, maxMessageSize,
                connectTimeout, startupTimeout, drainTimeout, pidFile, unixSocket);
    }

    public PgmemoConfig withTls(TlsConfig newTls) {
        return new PgmemoConfig(source, listen, upstream, newTls, admin, cache, rules, maxMessageSize,
                connectTimeout, startupTimeout, drainTimeout, pidFile, unixSocket);
    }

    public PgmemoConfig withAdmin(AdminConfig newAdmin) {
        return new PgmemoConfig(source, listen, upstream, tls, newAdmin, cache, rules, maxMessageSize,
                connectTimeout, startupTimeout, drainTimeout, pidFile, unixSocket);
    }

    public PgmemoConfig withCache(CacheConfig newCache) {
        return new PgmemoConfig(source, listen, upstream, tls, admin, newCache, rules, maxMessageSize,
                connectTimeout, startupTimeout, drainTimeout, pidFile, unixSocket);
    }

    public PgmemoConfig withRules(List<Rule> newRules) {
        return new PgmemoConfig(source, listen, upstream, tls, admin, cache, newRules, maxMessageSize,
                connectTimeout, startupTimeout, drainTimeout, pidFile, unixSocket);
    }
}
