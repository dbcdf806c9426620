package dev.pgmemo.proxy;

import dev.pgmemo.config.SslMode;
import dev.pgmemo.config.UpstreamConfig;
import dev.pgmemo.protocol.StartupPacket;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.util.InsecureTrustManagerFactory;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;

/**
 * Opens connections to the upstream PostgreSQL on a given event loop, negotiating TLS first when the
 * upstream URL's sslmode asks for it (PostgreSQL docs 55.2.10, "SSL Session Encryption"). The returned
 * channel has AUTO_READ off and an empty pipeline (apart from an SslHandler), ready for the startup packet.
 */
final class UpstreamConnector {
    private final UpstreamConfig upstream;
    private final Transport transport;
    private final Duration connectTimeout;
    private final SslContext sslContext;

    UpstreamConnector(UpstreamConfig upstream, Transport transport, Duration connectTimeout) {
        this.upstream = upstream;
        this.transport = transport;
        this.connectTimeout = connectTimeout;
        // As libpq, no TLS over a Unix-domain socket (PostgreSQL answers 'N' there; the config refuses the
        // modes that would need it).
        this.sslContext = upstream.sslMode() == SslMode.DISABLE || upstream.unixSocket()
                ? null : buildSslContext(upstream);
    }

    String address() {
        return upstream.describe();
    }

    private static SslContext buildSslContext(UpstreamConfig upstream) {
        try {
            SslContextBuilder b = SslContextBuilder.forClient();
            switch (upstream.sslMode()) {
                case PREFER, REQUIRE -> {
                    if (upstream.sslRootCert() != null) {
                        b.trustManager(upstream.sslRootCert().toFile());
                    } else {
                        b.trustManager(InsecureTrustManagerFactory.INSTANCE);
                    }
                }
                case VERIFY_CA, VERIFY_FULL -> {
                    if (upstream.sslRootCert() != null) {
                        b.trustManager(upstream.sslRootCert().toFile());
                    }
                }
                default -> {
                }
            }
            return b.build();
        } catch (SSLException e) {
            throw new IllegalArgumentException("cannot set up TLS to upstream: " + e.getMessage(), e);
        }
    }

    /** Connects; the promise fails with a message suitable for the client when the upstream cannot be reached. */
    Future<Channel> connect(EventLoop loop) {
        Promise<Channel> promise = loop.newPromise();
        Bootstrap b = new Bootstrap()
                .group(loop)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.ALLOCATOR, io.netty.buffer.PooledByteBufAllocator.DEFAULT) // as the client side
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis()))
                .handler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                    }
                });
        ChannelFuture connecting;
        if (upstream.unixSocket()) {
            connecting = b.channel(transport.domainSocketChannel())
                    .connect(transport.domainSocketAddress(upstream.socketPath()));
        } else {
            connecting = b.channel(transport.socketChannel())
                    .option(ChannelOption.TCP_NODELAY, true)
                    .option(ChannelOption.SO_KEEPALIVE, true)
                    .connect(upstream.host(), upstream.port());
        }
        connecting.addListener((ChannelFutureListener) f -> {
            if (!f.isSuccess()) {
                Throwable cause = f.cause();
                if (upstream.unixSocket() && !Files.exists(upstream.socketPath())) {
                    // The transports word this differently (io_uring: a FileNotFoundException without a message).
                    cause = new IOException("no such socket", cause);
                }
                promise.tryFailure(cause);
                return;
            }
            Channel ch = f.channel();
            if (sslContext == null) {
                promise.trySuccess(ch);
            } else {
                negotiateTls(ch, promise);
            }
        });
        return promise;
    }

    private void negotiateTls(Channel ch, Promise<Channel> promise) {
        ch.pipeline().addLast("ssl-negotiation", new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
                ByteBuf buf = (ByteBuf) msg;
                try {
                    if (!buf.isReadable()) {
                        ctx.read();
                        return;
                    }
                    byte answer = buf.readByte();
                    if (buf.isReadable()) {
                        fail(ctx, new IOException("upstream sent unexpected data after its SSL response"));
                        return;
                    }
                    ctx.pipeline().remove(this);
                    if (answer == 'S') {
                        SSLEngine engine = sslContext.newEngine(ctx.alloc(), upstream.host(), upstream.port());
                        if (upstream.sslMode() == SslMode.VERIFY_FULL) {
                            SSLParameters params = engine.getSSLParameters();
                            params.setEndpointIdentificationAlgorithm("HTTPS");
                            engine.setSSLParameters(params);
                        }
                        SslHandler ssl = new SslHandler(engine);
                        ctx.pipeline().addFirst("ssl", ssl);
                        ssl.handshakeFuture().addListener(h -> {
                            if (h.isSuccess()) {
                                promise.trySuccess(ch);
                            } else {
                                ch.close();
                                promise.tryFailure(new IOException("TLS handshake with upstream failed: " + h.cause().getMessage(), h.cause()));
                            }
                        });
                        ch.read();
                    } else if (answer == 'N' && upstream.sslMode() == SslMode.PREFER) {
                        promise.trySuccess(ch);
                    } else {
                        fail(ctx, new IOException("upstream PostgreSQL does not support SSL, but sslmode="
                                + upstream.sslMode().name().toLowerCase().replace('_', '-') + " requires it"));
                    }
                } finally {
                    ReferenceCountUtil.release(buf);
                }
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
                promise.tryFailure(new IOException("upstream closed the connection during SSL negotiation"));
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                fail(ctx, cause);
            }

            private void fail(ChannelHandlerContext ctx, Throwable cause) {
                ctx.close();
                promise.tryFailure(cause);
            }
        });
        ch.writeAndFlush(Unpooled.wrappedBuffer(StartupPacket.SslRequest.encode()));
        ch.read();
    }
}
