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

    void register(ClientSession session);

    void unregister(ClientSession session);

    void forwardCancel(StartupPacket.CancelRequest cancel);
}
