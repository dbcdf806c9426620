package dev.pgmemo.proxy;

import dev.pgmemo.config.HostPort;
import dev.pgmemo.config.PgmemoConfig;
import dev.pgmemo.protocol.StartupDecoder;
import dev.pgmemo.protocol.StartupPacket;
import dev.pgmemo.proxy.admin.AdminServer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running pgmemo: the client listener, its event loops, the admin HTTP endpoint and the set of open
 * sessions. {@link #start} binds everything or fails; {@link #close} drains gracefully.
 */
public final class PgmemoServer implements ProxyContext, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PgmemoServer.class);

    private final PgmemoConfig config;
    private final Transport transport;
    private final EventLoopGroup bossGroup;
    private final EventLoopGroup workerGroup;
    private final PrometheusMeterRegistry registry;
    private final ProxyMetrics metrics;
    private final SslContext serverSslContext;
    private final UpstreamConnector upstreamConnector;
    private final dev.pgmemo.proxy.cache.CacheService cache;
    private final Set<ClientSession> sessions = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean draining = new AtomicBoolean();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private Channel serverChannel;
    /** The Unix-socket listener ({@code unix_socket_dir}) and its file, or null. */
    private Channel socketServerChannel;
    private Path socketFile;
    /** The socket file's identity (device and inode) when bound: only that file is removed at stop. */
    private Object socketFileKey;
    private AdminServer admin;

    private PgmemoServer(PgmemoConfig config) {
        this.config = config;
        this.transport = Transport.best();
        this.registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        this.metrics = new ProxyMetrics(registry);
        this.serverSslContext = config.tls() == null ? null : buildServerSslContext(config);
        this.upstreamConnector = new UpstreamConnector(config.upstream(), transport, config.connectTimeout());
        this.bossGroup = transport.newGroup(1, "pgmemo-accept");
        this.workerGroup = transport.newGroup(ioThreads(), "pgmemo-io");
        // The Redis store keeps a connection on each I/O thread: store calls complete on the session's thread.
        this.cache = config.cache().enabled()
                ? new dev.pgmemo.proxy.cache.CacheService(config, registry, transport.redisLoops(workerGroup))
                : null;
    }

    /**
     * I/O threads: one per core by default. On the 2-core benchmark machine one I/O thread used 1–2 µs less CPU per
     * relayed transaction than two, but two ran 3–20 % more transactions a second (the cores were not saturated,
     * and a single thread serving every session made requests wait for each other), ahead of PgBouncer's single
     * thread in interleaved runs (docs/benchmarks.md, session 14). Override with -Dpgmemo.threads=N.
     */
    static int ioThreads() {
        return Integer.getInteger("pgmemo.threads", Math.max(1, Runtime.getRuntime().availableProcessors()));
    }

    /** Binds the proxy and admin listeners; throws if either cannot be bound. */
    public static PgmemoServer start(PgmemoConfig config) throws IOException {
        PgmemoServer server = new PgmemoServer(config);
        try {
            server.bind();
        } catch (IOException | RuntimeException e) {
            server.shutdownNow();
            throw e;
        }
        return server;
    }

    private static SslContext buildServerSslContext(PgmemoConfig config) {
        try {
            return SslContextBuilder.forServer(config.tls().cert().toFile(), config.tls().key().toFile()).build();
        } catch (Exception e) {
            throw new IllegalArgumentException("cannot load TLS certificate " + config.tls().cert() + " / key "
                    + config.tls().key() + ": " + e.getMessage(), e);
        }
    }

    /**
     * A listener of {@code channel}'s kind whose connections become sessions: the options both listeners (TCP and
     * the Unix socket) share; the caller adds those of its kind.
     */
    private ServerBootstrap listener(Class<? extends ServerChannel> channel) {
        return new ServerBootstrap()
                .group(bossGroup, workerGroup)
                .channel(channel)
                .option(ChannelOption.SO_BACKLOG, 1024)
                .childOption(ChannelOption.AUTO_READ, false)
                // Netty 4.2's default (adaptive) allocator cost 0.5-2 us more CPU per relayed transaction
                // here than the pooled one (A/B runs of pgbench -S, docs/benchmarks.md).
                .childOption(ChannelOption.ALLOCATOR, io.netty.buffer.PooledByteBufAllocator.DEFAULT)
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        metrics.clientConnectionsTotal.increment();
                        ch.pipeline().addLast("startup", new StartupDecoder());
                        ch.pipeline().addLast("session", new ClientSession(PgmemoServer.this));
                    }
                });
    }

    private void bind() throws IOException {
        ServerBootstrap b = listener(transport.serverChannel())
                .option(ChannelOption.SO_REUSEADDR, true)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true);
        InetSocketAddress address = new InetSocketAddress(config.listen().host(), config.listen().port());
        try {
            serverChannel = b.bind(address).syncUninterruptibly().channel();
        } catch (Exception e) {
            throw new IOException("cannot listen on " + config.listen() + ": " + e.getMessage(), e);
        }
        if (config.unixSocket() != null) {
            bindUnixSocket();
        }
        if (config.admin().enabled()) {
            admin = new AdminServer(config.admin().listen(), this, registry);
        }
        log.info("pgmemo listening on {}{} ({} transport), upstream {}, cache {}{}",
                new HostPort(config.listen().host(), port()), socketFile == null ? "" : " and " + socketFile,
                transport.name(), upstreamConnector.address(), cache == null ? "disabled" : cache.store().describe(),
                admin == null ? "" : ", admin on " + new HostPort(config.admin().listen().host(), admin.port()));
    }

    /**
     * The listener on {@code <unix_socket_dir>/.s.PGSQL.<port>}, for local clients ({@code psql -h <dir>}), with the
     * configured permission bits. A socket file that refuses connections (left by a server that did not stop
     * cleanly) is replaced; anything else in the way (a socket that accepts, or that cannot be probed, or a file
     * that is not a socket) stops start-up.
     */
    private void bindUnixSocket() throws IOException {
        Path file = config.unixSocket().socket(port());
        if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            if (!isSocket(file)) {
                throw new IOException("cannot listen on " + file + ": a file that is not a socket is in the way");
            }
            String inUse = probe(file);
            if (inUse != null) {
                throw new IOException("cannot listen on " + file + ": " + inUse);
            }
            Files.deleteIfExists(file);
            log.info("removed stale socket file {}", file);
        }
        ServerBootstrap b = listener(transport.serverDomainSocketChannel());
        if (!transport.name().equals("nio")) {
            b.childOption(ChannelOption.ALLOW_HALF_CLOSURE, true); // NIO's Unix-socket channel has no such option
        }
        try {
            socketServerChannel = b.bind(transport.domainSocketAddress(file)).syncUninterruptibly().channel();
        } catch (Exception e) {
            throw new IOException("cannot listen on " + file + ": " + e.getMessage(), e);
        }
        socketFile = file;
        socketFileKey = fileKey(file);
        Files.setPosixFilePermissions(file, permissions(config.unixSocket().mode()));
    }

    private static boolean isSocket(Path file) throws IOException {
        int mode = (Integer) Files.getAttribute(file, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        return (mode & 0170000) == 0140000; // S_IFSOCK
    }

    /**
     * Null when the socket refuses connections (nothing listens: stale); otherwise why it must be left alone. The
     * probe does not block: a server whose queue is full, or that is stopped, counts as listening.
     */
    private static String probe(Path file) {
        try (java.nio.channels.SocketChannel probe = java.nio.channels.SocketChannel.open(
                java.net.StandardProtocolFamily.UNIX)) {
            probe.configureBlocking(false);
            probe.connect(java.net.UnixDomainSocketAddress.of(file));
            return "another server accepts connections on it";
        } catch (java.net.ConnectException refused) {
            return null;
        } catch (IOException e) {
            return "cannot tell whether a server uses it (" + e.getMessage() + ")";
        }
    }

    private static Object fileKey(Path file) {
        try {
            return Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class,
                    LinkOption.NOFOLLOW_LINKS).fileKey();
        } catch (IOException e) {
            return null;
        }
    }

    static Set<PosixFilePermission> permissions(int mode) {
        Set<PosixFilePermission> out = java.util.EnumSet.noneOf(PosixFilePermission.class);
        PosixFilePermission[] bits = PosixFilePermission.values(); // OWNER_READ ... OTHERS_EXECUTE, highest bit first
        for (int i = 0; i < bits.length; i++) {
            if ((mode & (1 << (bits.length - 1 - i))) != 0) {
                out.add(bits[i]);
            }
        }
        return out;
    }

    /** The Unix socket pgmemo listens on too, or null. */
    public Path unixSocket() {
        return socketFile;
    }

    /**
     * Closes the listeners: no new connections. The Unix socket goes first, and its file with it (Netty's epoll and
     * NIO listeners remove the file themselves; for io_uring pgmemo does, if the file is still the one it bound),
     * before the TCP port is released: a pgmemo starting on the same port meanwhile binds its socket only after
     * that, and a second call (at the end of a drain) touches nothing.
     */
    private synchronized void closeListeners() {
        Channel socketListener = socketServerChannel;
        if (socketListener != null) {
            socketServerChannel = null;
            socketListener.close().syncUninterruptibly();
            Object key = fileKey(socketFile);
            if (key != null && key.equals(socketFileKey)) {
                try {
                    Files.deleteIfExists(socketFile);
                } catch (IOException e) {
                    log.warn("cannot remove socket file {}: {}", socketFile, e.getMessage());
                }
            }
        }
        if (serverChannel != null) {
            serverChannel.close().syncUninterruptibly();
        }
    }

    /** The socket transport every channel uses: "io_uring", "epoll" or "nio" (see {@link Transport}). */
    public String transportName() {
        return transport.name();
    }

    /** The proxy port actually bound (useful when the configuration asked for port 0). */
    public int port() {
        return ((InetSocketAddress) serverChannel.localAddress()).getPort();
    }

    /** The admin HTTP port actually bound, or -1 when the admin endpoint is disabled. */
    public int adminPort() {
        return admin == null ? -1 : admin.port();
    }

    public PrometheusMeterRegistry registry() {
        return registry;
    }

    @Override
    public PgmemoConfig config() {
        return config;
    }

    @Override
    public ProxyMetrics metrics() {
        return metrics;
    }

    @Override
    public SslContext serverSslContext() {
        return serverSslContext;
    }

    @Override
    public UpstreamConnector upstreamConnector() {
        return upstreamConnector;
    }

    @Override
    public dev.pgmemo.proxy.cache.CacheService cache() {
        return cache;
    }

    @Override
    public boolean isDraining() {
        return draining.get();
    }

    @Override
    public void register(ClientSession session) {
        sessions.add(session);
        metrics.clientConnectionsOpen.incrementAndGet();
    }

    @Override
    public void unregister(ClientSession session) {
        if (sessions.remove(session)) {
            metrics.clientConnectionsOpen.decrementAndGet();
        }
    }

    public int openSessions() {
        return sessions.size();
    }

    /**
     * Forwards a CancelRequest on a fresh upstream connection. pgmemo relays BackendKeyData unchanged and
     * holds one upstream connection per client, so the client's key is already the backend's key.
     */
    @Override
    public void forwardCancel(StartupPacket.CancelRequest cancel) {
        metrics.cancelRequests.increment();
        upstreamConnector.connect(workerGroup.next()).addListener(f -> {
            if (f.isSuccess()) {
                Channel ch = (Channel) f.getNow();
                ch.writeAndFlush(Unpooled.wrappedBuffer(cancel.encode())).addListener(ChannelFutureListener.CLOSE);
            } else {
                log.warn("could not forward a cancel request upstream: {}", f.cause().getMessage());
            }
        });
    }

    /** Databases that sessions of this instance have used (for {@code invalidate --table} without a database). */
    private final Set<String> databasesSeen = ConcurrentHashMap.newKeySet();

    @Override
    public void noteDatabase(String database) {
        databasesSeen.add(database);
    }

    /**
     * Re-reads the configuration file and applies what can change while running: the caching rules,
     * default_ttl. Throws with the file's error when the new file is invalid; the old rules then stay.
     *
     * @return a one-line description of what was applied
     */
    public synchronized String reload() throws dev.pgmemo.config.ConfigException {
        if (config.source() == null) {
            return "no configuration file to reload (running on built-in defaults)";
        }
        PgmemoConfig fresh = dev.pgmemo.config.ConfigLoader.load(config.source());
        if (cache != null) {
            cache.reload(fresh);
        }
        java.util.List<String> ignored = new java.util.ArrayList<>();
        if (!fresh.listen().equals(config.listen())) {
            ignored.add("listen");
        }
        if (!java.util.Objects.equals(fresh.unixSocket(), config.unixSocket())) {
            ignored.add("unix_socket_dir/unix_socket_mode");
        }
        if (!fresh.upstream().equals(config.upstream())) {
            ignored.add("upstream");
        }
        if (!java.util.Objects.equals(fresh.tls(), config.tls())) {
            ignored.add("tls");
        }
        if (!fresh.admin().equals(config.admin())) {
            ignored.add("admin");
        }
        if (fresh.cache().enabled() != config.cache().enabled() || !java.util.Objects.equals(fresh.cache().store(), config.cache().store())) {
            ignored.add("cache.enabled/cache.store");
        }
        String msg = "reloaded " + config.source() + ": " + fresh.rules().size() + " rule(s), default_ttl "
                + fresh.cache().defaultTtl().toSeconds() + "s, admission "
                + fresh.cache().admission().name().toLowerCase(java.util.Locale.ROOT)
                + (ignored.isEmpty() ? "" : "; changes to " + String.join(", ", ignored) + " need a restart");
        log.info(msg);
        return msg;
    }

    /**
     * Invalidates every cached result that read {@code table} (a name, or schema.name: tokens are per name)
     * in {@code database}, or in every database this instance has served when {@code database} is null.
     */
    public java.util.concurrent.CompletableFuture<String> invalidateTable(String table, String database) {
        if (cache == null) {
            return java.util.concurrent.CompletableFuture.completedFuture("caching is disabled");
        }
        String name = table.contains(".") ? table.substring(table.lastIndexOf('.') + 1) : table;
        java.util.List<String> dbs = database != null ? java.util.List.of(database) : java.util.List.copyOf(databasesSeen);
        java.util.List<byte[]> keys = new java.util.ArrayList<>();
        for (String db : dbs) {
            keys.add(dev.pgmemo.proxy.cache.CacheService.tableToken(db, name));
        }
        if (keys.isEmpty()) {
            return java.util.concurrent.CompletableFuture.completedFuture("no database has been served yet; nothing to invalidate");
        }
        cache.metrics().invalidations.increment(keys.size());
        return cache.store().bump(keys).thenApply(v -> "invalidated table " + name + " in database(s) " + String.join(", ", dbs));
    }

    /** Invalidates every cached result of every pgmemo sharing this store. */
    public java.util.concurrent.CompletableFuture<String> invalidateAll() {
        if (cache == null) {
            return java.util.concurrent.CompletableFuture.completedFuture("caching is disabled");
        }
        cache.catalog().invalidateAll();
        cache.metrics().invalidations.increment();
        return cache.store().invalidateAll().thenApply(v -> "invalidated every cached result");
    }

    /** Blocks until the server has stopped. */
    public void awaitStopped() throws InterruptedException {
        stopped.await();
    }

    public boolean isStopped() {
        return stopped.getCount() == 0;
    }

    /** Graceful stop with the configured drain timeout. */
    @Override
    public void close() {
        stop(config.drainTimeout());
    }

    /**
     * Stops accepting connections, ends idle sessions at once and busy ones when their transaction ends,
     * and closes whatever is left after {@code drainTimeout}.
     */
    public void stop(Duration drainTimeout) {
        if (!draining.compareAndSet(false, true)) {
            awaitQuietly();
            return;
        }
        log.info("pgmemo stopping: no new connections, draining {} session(s) for up to {}s", sessions.size(),
                drainTimeout.toSeconds());
        closeListeners();
        sessions.forEach(ClientSession::beginDrain);
        long deadline = System.nanoTime() + drainTimeout.toNanos();
        while (!sessions.isEmpty() && System.nanoTime() < deadline) {
            sleep(20);
        }
        if (!sessions.isEmpty()) {
            log.info("drain timeout reached; closing {} busy session(s)", sessions.size());
            sessions.forEach(ClientSession::forceClose);
            long hardDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            while (!sessions.isEmpty() && System.nanoTime() < hardDeadline) {
                sleep(20);
            }
        }
        shutdownNow();
        log.info("pgmemo stopped");
    }

    private void shutdownNow() {
        closeListeners(); // a no-op after stop(); on a failed start, what was bound
        if (admin != null) {
            admin.stop();
        }
        if (cache != null) {
            cache.close(); // before the I/O threads its Redis connections live on
        }
        workerGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        bossGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        registry.close();
        stopped.countDown();
    }

    private void awaitQuietly() {
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
