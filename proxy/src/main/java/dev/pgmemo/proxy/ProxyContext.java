package dev.pgmemo.proxy;

import dev.pgmemo.config.PgmemoConfig;
import dev.pgmemo.protocol.StartupPacket;
import io.netty.handler.ssl.SslContext;

/** What a {@link ClientSession} needs from the server that owns it. */
interface ProxyContext {
    PgmemoConfig config();

    ProxyMetrics metrics();

    /** TLS context for clients, or null when TLS is not configured. */
    SslContext serverSslContext();

    UpstreamConnector upstreamConnector();

    boolean isDraining();

    /** The shared cache, or null when caching is disabled. */
    dev.pgmemo.proxy.cache.CacheService cache();

    void register(ClientSession session);

    void unregister(ClientSession session);

    /** Remembers a database sessions use (for invalidate --table without --database). */
    void noteDatabase(String database);

    void forwardCancel(StartupPacket.CancelRequest cancel);
}
