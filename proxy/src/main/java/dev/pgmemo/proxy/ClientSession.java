package dev.pgmemo.proxy;

import dev.pgmemo.protocol.BackendMessage;
import dev.pgmemo.protocol.FrameDecoder;
import dev.pgmemo.protocol.FrameScanner;
import dev.pgmemo.protocol.FrontendMessage;
import dev.pgmemo.protocol.MessageType;
import dev.pgmemo.protocol.SqlState;
import dev.pgmemo.protocol.StartupDecoder;
import dev.pgmemo.protocol.StartupPacket;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One client connection and its upstream PostgreSQL connection, driven on the client channel's event loop.
 * Startup packets are handled here (TLS, cancel, connect upstream); afterwards every frame is relayed in
 * order in both directions, with backpressure: a side is read only while the other side is writable.
 */
final class ClientSession extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(ClientSession.class);

    enum State { STARTUP, CONNECTING, AUTHENTICATING, READY, CLOSED }

    private final ProxyContext proxy;
    private Channel client;
    private Channel upstream;
    /** Writes to the client and to PostgreSQL: small messages between two flushes go out as one buffer. */
    private Outbound toClient;
    private Outbound toUpstream;
    private State state = State.STARTUP;
    private String prefix = "[?]";
    private ScheduledFuture<?> startupTimeout;

    /** Requests (Query, Sync, FunctionCall) sent upstream whose ReadyForQuery has not come back yet. */
    private int pendingReadyForQuery;
    private byte transactionStatus = BackendMessage.ReadyForQuery.IDLE;
    private boolean draining;
    private boolean clientTerminated;
    private BackendMessage.BackendKeyData backendKey;
    /** As PostgreSQL reported it at startup (ParameterStatus); the query flow follows later changes. */
    private boolean standardConformingStrings = true;
    private StartupPacket.StartupMessage startup;
    /** Frames the client sent right behind its StartupMessage, before the upstream connection existed. */
    private final ArrayDeque<ByteBuf> preConnectBacklog = new ArrayDeque<>();
    /** The client shut down its sending side; close once every reply it is owed has been relayed. */
    private boolean clientInputShutdown;
    /** The client's end of input arrived while the query flow ran (see settleClientEof). */
    private boolean clientEof;
    /** PostgreSQL has been shown the end of input (our sending side to it is shut down). */
    private boolean upstreamInputShut;
    /** Cache-aware request handling; null when caching is disabled (plain relay). */
    private QueryFlow flow;
    /**
     * Plain relay (caching off) once the session is ready: the frame decoders are gone, each buffer read from one
     * side is written whole to the other, and its messages are only scanned for what the relay must know
     * (requests awaiting ReadyForQuery, the transaction status, Terminate) without a buffer or object per message.
     */
    private boolean rawRelay;
    /** Set at the first ReadyForQuery with caching off; the switch happens once that read is fully handled. */
    private boolean rawRelayPending;
    private FrameScanner clientScanner;
    private FrameScanner upstreamScanner;
    private final FrameScanner.Listener clientMessages = this::onClientMessage;
    private final FrameScanner.Listener upstreamMessages = this::onUpstreamMessage;
    /** The current upstream scan saw a ReadyForQuery. */
    private boolean scannedReadyForQuery;
    /**
     * Messages (and their bytes) relayed since the metrics were last updated, framed or scanned; added to the
     * shared counters once per read ({@link #countMessages}).
     */
    private int messagesFromClient;
    private long bytesFromClient;
    private int messagesFromUpstream;
    private long bytesFromUpstream;

    ClientSession(ProxyContext proxy) {
        this.proxy = proxy;
    }

    // ---- client side -------------------------------------------------------------------------------------

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        client = ctx.channel();
        toClient = new Outbound(client);
        // A client on the Unix socket has no address; PostgreSQL's logs call it [local] too.
        prefix = client.remoteAddress() instanceof InetSocketAddress remote
                ? "[" + remote.getAddress().getHostAddress() + ":" + remote.getPort() + "]"
                : client.localAddress() instanceof InetSocketAddress ? "[?]" : "[local]";
        proxy.register(this);
        long timeoutMs = proxy.config().startupTimeout().toMillis();
        if (timeoutMs > 0) {
            startupTimeout = ctx.executor().schedule(() -> {
                if (state == State.STARTUP) {
                    fatal(SqlState.PROTOCOL_VIOLATION, "timeout expired while waiting for the startup packet", null);
                }
            }, timeoutMs, TimeUnit.MILLISECONDS);
        }
        ctx.read();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (rawRelay && msg instanceof ByteBuf bytes) {
            onClientBytes(bytes);
        } else if (msg instanceof ByteBuf frame) {
            onClientFrame(frame);
        } else if (msg instanceof StartupPacket packet) {
            onStartupPacket(ctx, packet);
        } else if (msg instanceof FrameDecoder.FrameError error) {
            proxy.metrics().protocolErrors.increment();
            log.warn("{} closing client connection: {}", prefix, error.message());
            fatal(SqlState.PROTOCOL_VIOLATION, error.message(), null);
        } else {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onStartupPacket(ChannelHandlerContext ctx, StartupPacket packet) {
        if (state != State.STARTUP) {
            return;
        }
        if (packet instanceof StartupPacket.SslRequest) {
            StartupDecoder decoder = client.pipeline().get(StartupDecoder.class);
            if (decoder != null && decoder.hasPartialPacket()) {
                // Bytes sent before the TLS handshake could be injected by a man in the middle (CVE-2021-23214).
                protocolFatal("received unencrypted data after SSL request");
                return;
            }
            // As PostgreSQL: TLS over TCP only; a client on the Unix socket is told 'N' (libpq does not ask there).
            if (proxy.serverSslContext() != null && client.pipeline().get(SslHandler.class) == null
                    && client.localAddress() instanceof InetSocketAddress) {
                client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {'S'})).addListener(f -> {
                    if (f.isSuccess()) {
                        client.pipeline().addFirst("ssl", proxy.serverSslContext().newHandler(client.alloc()));
                        client.read();
                    }
                });
            } else {
                client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {'N'}));
                ctx.read();
            }
        } else if (packet instanceof StartupPacket.GssEncRequest) {
            client.writeAndFlush(Unpooled.wrappedBuffer(new byte[] {'N'}));
            ctx.read();
        } else if (packet instanceof StartupPacket.CancelRequest cancel) {
            proxy.forwardCancel(cancel);
            close();
        } else if (packet instanceof StartupPacket.Invalid invalid) {
            proxy.metrics().protocolErrors.increment();
            log.warn("{} refusing startup packet: {}", prefix, invalid.message());
            fatal(invalid.sqlState(), invalid.message(), null);
        } else if (packet instanceof StartupPacket.StartupMessage message) {
            onStartupMessage(message);
        }
    }

    private void onStartupMessage(StartupPacket.StartupMessage message) {
        if (proxy.isDraining()) {
            fatal(SqlState.CANNOT_CONNECT_NOW, "pgmemo is shutting down", null);
            return;
        }
        cancelStartupTimeout();
        startup = message;
        proxy.noteDatabase(message.database());
        state = State.CONNECTING;
        prefix = prefix.substring(0, prefix.length() - 1) + " " + message.user() + "@" + message.database() + "]";
        // From here on the client sends typed messages.
        client.pipeline().addAfter("startup", "frames", new FrameDecoder(proxy.config().maxMessageSize()));
        client.pipeline().remove("startup");
        proxy.upstreamConnector().connect(client.eventLoop()).addListener(f -> {
            if (!f.isSuccess()) {
                proxy.metrics().upstreamConnectErrors.increment();
                String reason = describe(f.cause());
                log.warn("{} cannot connect to upstream {}: {}", prefix, proxy.upstreamConnector().address(), reason);
                fatal(SqlState.CONNECTION_FAILURE, "pgmemo could not connect to the upstream PostgreSQL server at "
                        + proxy.upstreamConnector().address() + ": " + reason, "Check that PostgreSQL is running and that pgmemo's upstream setting is right.");
                return;
            }
            Channel ch = (Channel) f.getNow();
            if (state == State.CLOSED) {
                ch.close();
                return;
            }
            upstream = ch;
            toUpstream = new Outbound(ch);
            ch.pipeline().addLast("frames", new FrameDecoder(proxy.config().maxMessageSize()));
            ch.pipeline().addLast("session", new UpstreamHandler());
            state = State.AUTHENTICATING;
            toUpstream.writeWhole(Unpooled.wrappedBuffer(startup.raw()));
            while (!preConnectBacklog.isEmpty()) {
                onClientFrame(preConnectBacklog.poll());
            }
            toUpstream.flush();
            // From here on both sides read by themselves (no read() per message, which costs an epoll_ctl
            // each time); reading stops only while the other side is unwritable, see updateReading().
            ch.config().setAutoRead(true);
            client.config().setAutoRead(true);
        });
    }

    private void onClientFrame(ByteBuf frame) {
        if (state == State.CLOSED) {
            frame.release();
            return;
        }
        if (upstream == null) {
            // Sent together with the StartupMessage (pipelined): keep until the upstream connection is up.
            preConnectBacklog.add(frame);
            return;
        }
        messagesFromClient++;
        bytesFromClient += frame.readableBytes();
        if (flow != null && state == State.READY) {
            flow.onClientFrame(frame);
            return;
        }
        byte type = frame.getByte(frame.readerIndex());
        switch (type) {
            case MessageType.QUERY, MessageType.SYNC, MessageType.FUNCTION_CALL -> pendingReadyForQuery++;
            case MessageType.TERMINATE -> clientTerminated = true;
            default -> {
            }
        }
        toUpstream.write(frame);
        if (clientTerminated) {
            clientTerminated();
        }
    }

    /** Writes a frame to the upstream (used by the query flow). */
    void writeUpstream(ByteBuf frame) {
        toUpstream.write(frame);
    }

    void flushUpstream() {
        toUpstream.flush();
    }

    /** Writes a frame to the client (used by the query flow). */
    void writeClient(ByteBuf frame) {
        toClient.write(frame);
    }

    void flushClient() {
        toClient.flush();
    }

    /** The client sent Terminate through the query flow. */
    void clientTerminated() {
        clientTerminated = true;
        toUpstream.flush();
        if (hasRequestsInFlight()) {
            // Replies to what was sent before Terminate are still owed (PostgreSQL sends them, then closes).
            clientInputShutdown = true;
        } else {
            close();
        }
    }

    /**
     * Backpressure: each side is read only while the other side is writable (Netty's write-buffer water
     * marks) and the query flow is not holding too many of its frames. Called on every change of either.
     */
    void updateReading() {
        if (state == State.CLOSED || upstream == null) {
            return;
        }
        boolean readClient = upstream.isWritable() && (flow == null || !flow.clientBacklogFull());
        boolean readUpstream = client.isWritable() && (flow == null || !flow.upstreamBacklogFull());
        if (client.config().isAutoRead() != readClient) {
            client.config().setAutoRead(readClient);
        }
        if (upstream.config().isAutoRead() != readUpstream) {
            upstream.config().setAutoRead(readUpstream);
        }
    }

    io.netty.channel.EventLoop eventLoop() {
        return client.eventLoop();
    }

    io.netty.buffer.ByteBufAllocator alloc() {
        return client.alloc();
    }

    String prefix() {
        return prefix;
    }

    String database() {
        return startup.database();
    }

    /** Transaction status from the last ReadyForQuery. */
    byte transactionStatus() {
        return transactionStatus;
    }

    /** Called by the flow when a ReadyForQuery is relayed. */
    void onReadyForQueryRelayed(byte status) {
        transactionStatus = status;
        afterReadyForQuery();
    }

    /** A held ReadyForQuery went out while the flow was paused: look again whether the session may end now. */
    void recheckAfterReadyForQuery() {
        if (state != State.CLOSED) {
            afterReadyForQuery();
        }
    }

    /** A continuation of the query flow failed (a bug): end the session as an exception in a handler would. */
    void internalError(Throwable cause) {
        log.warn("{} closing client connection after an internal error", prefix, cause);
        close();
    }

    private void afterReadyForQuery() {
        if (draining && isIdle()) {
            terminateForShutdown();
        } else if (clientEof) {
            settleClientEof();
        } else if (clientInputShutdown && !hasRequestsInFlight()) {
            close();
        }
    }

    /**
     * The client shut down its sending side while the query flow runs: what the flow holds goes upstream; once
     * no reply PostgreSQL sends unprompted is owed, PostgreSQL sees the end of input too, as a direct client's
     * would, and the session ends when it closes. While replies are owed, or the flow is paused (a cache lookup,
     * a catalog query), this runs again after each ReadyForQuery and each time the flow resumes: frames the
     * flow processes then (held Parse/Bind/Execute without a Sync) would otherwise wait for input that never
     * comes.
     */
    private void settleClientEof() {
        if (state != State.READY || upstreamInputShut) {
            return;
        }
        if (flow.clientInputShutdown()) {
            toUpstream.flush();
            return; // settled again after the next ReadyForQuery or when the flow resumes
        }
        upstreamInputShut = true;
        toUpstream.flush();
        if (upstream instanceof io.netty.channel.socket.DuplexChannel duplex) {
            // Once what was written has left (shutting down earlier would fail those writes).
            upstream.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(f -> duplex.shutdownOutput());
        } else {
            close();
        }
    }

    /** The query flow processed what it held back while paused: an end of input may now be settled. */
    void flowResumed() {
        if (clientEof) {
            settleClientEof();
        }
    }

    /** Adds the messages counted since the last call to the relay metrics (shared counters: once per read). */
    private void countMessages() {
        ProxyMetrics m = proxy.metrics();
        if (messagesFromClient != 0 || bytesFromClient != 0) {
            m.messagesFromClients.add(messagesFromClient);
            m.bytesFromClients.add(bytesFromClient);
            messagesFromClient = 0;
            bytesFromClient = 0;
        }
        if (messagesFromUpstream != 0 || bytesFromUpstream != 0) {
            m.messagesFromUpstream.add(messagesFromUpstream);
            m.bytesFromUpstream.add(bytesFromUpstream);
            messagesFromUpstream = 0;
            bytesFromUpstream = 0;
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        countMessages();
        if (upstream != null) {
            toUpstream.flush();
            updateReading();
        } else if (state == State.STARTUP) {
            client.read();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        updateReading();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            StartupDecoder decoder = client.pipeline().get(StartupDecoder.class);
            if (state == State.STARTUP && decoder != null && decoder.hasPartialPacket()) {
                proxy.metrics().protocolErrors.increment();
                fatal(SqlState.PROTOCOL_VIOLATION, "incomplete startup packet", null);
            } else if (state == State.READY && flow != null) {
                clientEof = true;
                settleClientEof();
            } else if (state == State.READY && hasRequestsInFlight() || state == State.AUTHENTICATING) {
                // Like PostgreSQL, answer what was asked before the client stopped sending; close after.
                clientInputShutdown = true;
                if (upstream != null) {
                    toUpstream.flush();
                }
            } else {
                if (upstream != null) {
                    toUpstream.flush();
                }
                close();
            }
        } else if (evt instanceof SslHandshakeCompletionEvent hs && !hs.isSuccess()) {
            log.info("{} TLS handshake with client failed: {}", prefix, hs.cause().getMessage());
            close();
        }
        ReferenceCountUtil.release(evt);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        close();
        proxy.unregister(this);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof java.io.IOException) {
            log.debug("{} client connection error: {}", prefix, cause.getMessage());
        } else {
            log.warn("{} closing client connection after an internal error", prefix, cause);
        }
        close();
    }

    // ---- upstream side -----------------------------------------------------------------------------------

    /** Handles frames from PostgreSQL; runs on the same event loop as the client channel. */
    private final class UpstreamHandler extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (rawRelay && msg instanceof ByteBuf bytes) {
                onUpstreamBytes(bytes);
            } else if (msg instanceof ByteBuf frame) {
                onUpstreamFrame(frame);
            } else if (msg instanceof FrameDecoder.FrameError error) {
                log.error("{} upstream sent an invalid message ({}); closing the session", prefix, error.message());
                fatal(SqlState.PROTOCOL_VIOLATION, "pgmemo received an invalid message from the upstream server: " + error.message(), null);
            } else {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            countMessages();
            if (rawRelayPending) {
                enterRawRelay();
            }
            toClient.flush();
            updateReading();
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            updateReading();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (state != State.CLOSED) {
                log.debug("{} upstream closed the connection", prefix);
                toClient.flush();
                close();
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (cause instanceof java.io.IOException) {
                log.info("{} upstream connection error: {}", prefix, cause.getMessage());
            } else {
                log.error("{} internal error while handling a reply from PostgreSQL; closing the session", prefix, cause);
            }
            if (state == State.READY || state == State.AUTHENTICATING) {
                fatal(SqlState.CONNECTION_FAILURE, "connection to the upstream PostgreSQL server was lost: " + describe(cause), null);
            } else {
                close();
            }
        }
    }

    private void onUpstreamFrame(ByteBuf frame) {
        messagesFromUpstream++;
        bytesFromUpstream += frame.readableBytes();
        if (flow != null && state == State.READY) {
            flow.onUpstreamFrame(frame);
            return;
        }
        byte type = frame.getByte(frame.readerIndex());
        switch (type) {
            case MessageType.READY_FOR_QUERY -> {
                transactionStatus = BackendMessage.ReadyForQuery.decode(frame).status();
                if (state == State.AUTHENTICATING) {
                    state = State.READY;
                    rawRelayPending = proxy.cache() == null;
                    log.debug("{} session ready (backend pid {})", prefix, backendKey == null ? "?" : backendKey.processId());
                } else if (pendingReadyForQuery > 0) {
                    pendingReadyForQuery--;
                }
                toClient.write(frame);
                if (proxy.cache() != null && flow == null && pendingReadyForQuery == 0) {
                    // Nothing is in flight (requests pipelined behind the startup have been answered):
                    // from here on requests take the cache-aware path.
                    flow = new QueryFlow(this, proxy.cache(), transactionStatus, standardConformingStrings);
                }
                afterReadyForQuery();
                return;
            }
            case MessageType.BACKEND_KEY_DATA -> backendKey = BackendMessage.BackendKeyData.decode(frame);
            case MessageType.PARAMETER_STATUS -> {
                BackendMessage.ParameterStatus ps = BackendMessage.ParameterStatus.decode(frame);
                if ("standard_conforming_strings".equals(ps.name())) {
                    standardConformingStrings = "on".equals(ps.value());
                }
            }
            default -> {
            }
        }
        toClient.write(frame);
    }

    // ---- plain relay of whole buffers (caching off) ----------------------------------------------------

    /**
     * Drops both frame decoders once the read that brought the first ReadyForQuery has been handled (so no decoded
     * frame is still on its way); a message a decoder had begun comes next as raw bytes, from its start
     * (ByteToMessageDecoder.handlerRemoved), so the scanners start at a message boundary.
     */
    private void enterRawRelay() {
        rawRelayPending = false;
        if (state != State.READY || flow != null) {
            return;
        }
        clientScanner = new FrameScanner(proxy.config().maxMessageSize());
        upstreamScanner = new FrameScanner(proxy.config().maxMessageSize());
        rawRelay = true;
        client.pipeline().remove("frames");
        upstream.pipeline().remove("frames");
    }

    private void onClientBytes(ByteBuf buf) {
        if (state == State.CLOSED) {
            buf.release();
            return;
        }
        int start = buf.readerIndex();
        int end = buf.writerIndex();
        int stop = clientScanner.scan(buf, clientMessages);
        bytesFromClient += stop - start;
        if (stop == end) {
            toUpstream.writeWhole(buf);
        } else {
            // Terminate (nothing after it is PostgreSQL's to read) or a bad length (nothing from it on is a message).
            if (stop > start) {
                toUpstream.writeWhole(buf.retainedSlice(start, stop - start));
            }
            buf.release();
        }
        if (clientScanner.error() != null) {
            protocolFatal(clientScanner.error());
        } else if (clientTerminated) {
            clientTerminated();
        }
    }

    private boolean onClientMessage(byte type, int firstByte) {
        messagesFromClient++;
        switch (type) {
            case MessageType.QUERY, MessageType.SYNC, MessageType.FUNCTION_CALL -> pendingReadyForQuery++;
            case MessageType.TERMINATE -> {
                clientTerminated = true;
                return true;
            }
            default -> {
            }
        }
        return false;
    }

    private void onUpstreamBytes(ByteBuf buf) {
        if (state == State.CLOSED) {
            buf.release();
            return;
        }
        int start = buf.readerIndex();
        int end = buf.writerIndex();
        scannedReadyForQuery = false;
        int stop = upstreamScanner.scan(buf, upstreamMessages);
        bytesFromUpstream += stop - start;
        if (stop == end) {
            toClient.writeWhole(buf);
        } else {
            if (stop > start) {
                toClient.writeWhole(buf.retainedSlice(start, stop - start));
            }
            buf.release();
        }
        if (upstreamScanner.error() != null) {
            String error = upstreamScanner.error();
            log.error("{} upstream sent an invalid message ({}); closing the session", prefix, error);
            fatal(SqlState.PROTOCOL_VIOLATION, "pgmemo received an invalid message from the upstream server: " + error, null);
        } else if (scannedReadyForQuery) {
            // Whatever came after the ReadyForQuery in this buffer is relayed too: for a draining or half-closed
            // session that is only asynchronous messages (notices, notifications), which precede the close.
            afterReadyForQuery();
        }
    }

    private boolean onUpstreamMessage(byte type, int firstByte) {
        messagesFromUpstream++;
        if (type == MessageType.READY_FOR_QUERY) {
            if (firstByte >= 0) {
                transactionStatus = (byte) firstByte;
            }
            if (pendingReadyForQuery > 0) {
                pendingReadyForQuery--;
            }
            scannedReadyForQuery = true;
        }
        return false;
    }

    // ---- lifecycle ---------------------------------------------------------------------------------------

    private boolean hasRequestsInFlight() {
        return flow != null ? !flow.isIdle() : pendingReadyForQuery > 0;
    }

    /** Idle: no request in flight and not inside a transaction block. */
    private boolean isIdle() {
        if (flow != null) {
            return flow.isIdle() && transactionStatus == BackendMessage.ReadyForQuery.IDLE && state == State.READY;
        }
        return pendingReadyForQuery == 0 && transactionStatus == BackendMessage.ReadyForQuery.IDLE
                && state == State.READY;
    }

    /** Called (from any thread) when pgmemo stops: idle sessions end now, busy ones at their next idle point. */
    void beginDrain() {
        client.eventLoop().execute(() -> {
            draining = true;
            if (state == State.CLOSED) {
                return;
            }
            if (state != State.READY || isIdle()) {
                terminateForShutdown();
            }
        });
    }

    /** Ends the session with PostgreSQL's administrator-shutdown error, whatever it is doing. */
    void forceClose() {
        client.eventLoop().execute(this::terminateForShutdown);
    }

    private void terminateForShutdown() {
        if (state == State.CLOSED) {
            return;
        }
        fatal(SqlState.ADMIN_SHUTDOWN, "terminating connection due to administrator command", "pgmemo is shutting down.");
    }

    private void protocolFatal(String message) {
        proxy.metrics().protocolErrors.increment();
        log.warn("{} closing client connection: {}", prefix, message);
        fatal(SqlState.PROTOCOL_VIOLATION, message, null);
    }

    /** Sends a FATAL ErrorResponse to the client, then closes both sides. */
    private void fatal(String sqlState, String message, String hint) {
        if (state == State.CLOSED) {
            return;
        }
        ByteBuf err = BackendMessage.errorResponse(client.alloc(), "FATAL", sqlState, message, hint);
        state = State.CLOSED;
        countMessages();
        if (flow != null) {
            flow.release();
        }
        preConnectBacklog.forEach(ReferenceCountUtil::release);
        preConnectBacklog.clear();
        cancelStartupTimeout();
        closeUpstream();
        toClient.close();
        client.writeAndFlush(err).addListener(ChannelFutureListener.CLOSE);
    }

    void close() {
        if (state == State.CLOSED) {
            return;
        }
        state = State.CLOSED;
        countMessages();
        if (flow != null) {
            flow.release();
        }
        preConnectBacklog.forEach(ReferenceCountUtil::release);
        preConnectBacklog.clear();
        cancelStartupTimeout();
        closeUpstream();
        toClient.close();
        if (client.isActive()) {
            client.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        } else {
            client.close();
        }
    }

    private void closeUpstream() {
        if (toUpstream != null) {
            toUpstream.close();
        }
        if (upstream != null && upstream.isActive()) {
            if (!clientTerminated) {
                upstream.write(FrontendMessage.Terminate.encode(upstream.alloc()));
            }
            upstream.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
        }
    }

    private void cancelStartupTimeout() {
        if (startupTimeout != null) {
            startupTimeout.cancel(false);
            startupTimeout = null;
        }
    }

    private static String describe(Throwable t) {
        if (t instanceof ConnectException && t.getMessage() != null) {
            String m = t.getMessage();
            int colon = m.indexOf(": ");
            return colon > 0 && m.toLowerCase().contains("refused") ? "connection refused" : m;
        }
        return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
    }
}
