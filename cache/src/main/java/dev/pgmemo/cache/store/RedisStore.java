package dev.pgmemo.cache.store;

import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.ConnectionBuilder;
import io.lettuce.core.ConnectionEvents;
import io.lettuce.core.KeyScanCursor;
import io.lettuce.core.KeyValue;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.SetArgs;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.Delay;
import io.lettuce.core.resource.EventLoopGroupProvider;
import io.lettuce.core.resource.NettyCustomizer;
import io.lettuce.core.resource.Transports;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.BootstrapConfig;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.ssl.SslHandler;
import io.netty.resolver.DefaultAddressResolverGroup;
import io.netty.util.AttributeKey;
import io.netty.util.NetUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.EventExecutorGroup;
import io.netty.util.concurrent.ImmediateEventExecutor;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Mono;

/**
 * The shared store: Lettuce connections to Redis with the binary codec.
 *
 * <p>A lookup is a single {@code MGET entry token1 token2 ...}, so entry and tokens come back in one
 * round trip (on one server, from one instant; on a cluster, see below). Only a token seen for the first
 * time costs a second round trip: {@code SET token fresh NX} then {@code GET token}, pipelined, so every
 * instance ends up with the value that won (or a newer one, if a bump got in between). A bump is one
 * {@code MSET}, so on one server the tables of a transaction change together.
 *
 * <p>Threads. Given the caller's event loops (pgmemo's I/O threads), the store opens one connection
 * per loop, registered on that loop with the loops' own transport (over TCP or a Unix socket, whichever
 * transport Lettuce would choose by itself), and a call made on a loop uses that loop's connection: the
 * command is written, and its reply decoded and its future completed, on the caller's own thread, with
 * no hand-off to another thread and back (a call from any other thread, or while its loop's connection
 * is down, uses another connection). Without event loops, Lettuce runs one connection on threads of its
 * own and futures complete there.
 *
 * <p>Deployments: one Redis server ({@code redis://}, {@code rediss://}), a master found through Sentinel
 * ({@code redis-sentinel://...#master}, Lettuce follows failovers), or Redis Cluster
 * ({@code redis-cluster://node[,node...]}): the other nodes and the slot map are discovered and kept up to
 * date (on MOVED/ASK redirections and every 30 s), and a command over keys in several slots ({@code MGET}
 * of an entry and its tokens, the {@code MSET} of a bump, {@code UNLINK}, {@code SCAN}) is split by node and
 * put back together in order by Lettuce. In a cluster, the entry and the tokens of a lookup come from their
 * own nodes, not from one instant, and a bump's tokens change node by node. That is still safe: a bump is
 * complete before the writer's ReadyForQuery is relayed, so every read that starts after it sees the new
 * tokens on their nodes, and an entry is a hit only if every token it recorded is still current.
 *
 * <p>Lost writes. Redis acknowledges a write before its replicas (or its disk) have it, so a server that
 * restarts from its files, or a replica promoted by a failover, may have lost the latest bumps, and entries
 * that recorded the old tokens would match again. The store therefore reports every reconnection (one server,
 * Sentinel) and every change of a cluster's topology through {@link #onPossibleLoss}, and
 * {@link ResilientStore} treats it as a lost invalidation: the global epoch is bumped before anything is
 * served again. A cluster master that restarts from its own files without a failover is not seen this way.
 *
 * <p>Failures are reported, not hidden: commands issued while disconnected fail at once instead of
 * being buffered (on a cluster they wait for the node's connection, which the caller's deadline bounds), and
 * if Redis is down at start-up the store starts anyway and keeps trying to connect in the background
 * (Lettuce reconnects by itself once a connection was made). This store does not time commands out (a
 * timer per command costs CPU on every call): wrap it in a {@link ResilientStore}, whose deadline bounds
 * every call, and which adds the circuit breaker and the lost-invalidation guard.
 */
public final class RedisStore implements CacheStore {

  public static final Duration DEFAULT_TIMEOUT = Duration.ofMillis(200);

  private static final Logger log = LoggerFactory.getLogger(RedisStore.class);
  private static final Duration MAX_CONNECT_BACKOFF = Duration.ofSeconds(1);

  /** The server or Sentinel URI; for a cluster, the first seed node. */
  private final RedisURI uri;
  /** The seed nodes of a Redis Cluster; null for one server or Sentinel. */
  private final List<RedisURI> clusterSeeds;
  private final String description;
  private final byte[] prefix;
  private final Duration timeout;
  /** Lettuce resources shared by every lane: the timer for reconnect delays, and Lettuce's own threads when no loops were given. */
  private final ClientResources resources;
  private final Lane[] lanes;
  private final RateLimitedLog connectWarning;
  private final AtomicLong connectAttempts = new AtomicLong();
  private final java.util.concurrent.CopyOnWriteArrayList<Runnable> lossListeners =
      new java.util.concurrent.CopyOnWriteArrayList<>();
  private volatile boolean closed;

  /**
   * Coalesces the writes of one event-loop iteration into one system call: a command issued while
   * the loop handles its sockets is flushed by a task that runs once they are all handled. On a busy
   * proxy, lookups and puts of several sessions then share one write to Redis instead of one each.
   */
  private static final NettyCustomizer CONSOLIDATE_FLUSHES = new NettyCustomizer() {
    @Override
    public void afterChannelInitialized(Channel channel) {
      // The pooled allocator, as pgmemo's own channels use (Netty 4.2's adaptive default costs more CPU here).
      channel.config().setAllocator(io.netty.buffer.PooledByteBufAllocator.DEFAULT);
      ChannelPipeline p = channel.pipeline();
      SslHandler tls = p.get(SslHandler.class);
      if (tls != null) {
        p.addAfter(p.context(tls).name(), "pgmemo-flush", new FlushAfterIteration());
      } else {
        p.addFirst("pgmemo-flush", new FlushAfterIteration());
      }
    }
  };

  /** Turns the flushes of one event-loop iteration into one, run as a task after the iteration's I/O. */
  private static final class FlushAfterIteration extends ChannelOutboundHandlerAdapter {
    private ChannelHandlerContext ctx;
    private boolean scheduled;
    private final Runnable flush = () -> {
      scheduled = false;
      ctx.flush();
    };

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      this.ctx = ctx;
    }

    @Override
    public void flush(ChannelHandlerContext ctx) {
      if (!scheduled) {
        scheduled = true;
        ctx.executor().execute(flush);
      }
    }

    @Override
    public void close(ChannelHandlerContext ctx, ChannelPromise promise) {
      ctx.flush();
      ctx.close(promise);
    }
  }

  /**
   * One Redis connection (for a cluster, one cluster connection: a connection to each node it needs) and the
   * event loop it lives on (null: on Lettuce's own threads).
   */
  private static final class Lane {
    final EventLoop loop;
    final ClientResources resources;
    final AbstractRedisClient client;
    volatile StatefulConnection<byte[], byte[]> connection;
    volatile RedisClusterAsyncCommands<byte[], byte[]> commands;

    Lane(EventLoop loop, ClientResources resources, AbstractRedisClient client) {
      this.loop = loop;
      this.resources = resources;
      this.client = client;
    }
  }

  /** {@code redis://127.0.0.1:6379} with no key prefix and the default timeout. */
  public RedisStore(String uri) {
    this(uri, "", DEFAULT_TIMEOUT);
  }

  /** On Lettuce's own threads; see {@link #RedisStore(String, String, Duration, Loops)}. */
  public RedisStore(String uri, String prefix, Duration timeout) {
    this(uri, prefix, timeout, null);
  }

  /**
   * @param uri a Redis URI as Lettuce understands it ({@code redis://[password@]host[:port][/db]},
   *     {@code rediss://...}, {@code redis-sentinel://...}, {@code redis-socket://[password@]/path[?database=n]}),
   *     or a Redis Cluster's seed nodes, {@code redis[s]-cluster://[[user:]password@]host[:port][,host[:port]...]}
   * @param prefix a namespace put before every key, e.g. {@code ""} in production or a random string
   *     per test
   * @param timeout how long connecting and the connection handshake may take (commands themselves
   *     are bounded by {@link ResilientStore})
   * @param loops event loops to put one Redis connection on each, so that a call made on one of them
   *     completes on it without a thread hop, with their transport's channel classes; the store neither owns
   *     nor shuts them down, and they must outlive it. Null to let Lettuce run its own threads (a Unix socket
   *     then needs Lettuce's epoll transport). A host name on loops of a transport other than Lettuce's choice
   *     also keeps Lettuce's threads (its DNS resolver runs on its own transport).
   */
  public RedisStore(String uri, String prefix, Duration timeout, Loops loops) {
    this(uri, prefix, timeout, loops, null);
  }

  /**
   * As {@link #RedisStore(String, String, Duration, Loops)}, verifying a TLS server ({@code rediss...://}) against
   * the PEM certificates in {@code trustedCa} instead of the JVM's trust store (null: the JVM's).
   */
  public RedisStore(String uri, String prefix, Duration timeout, Loops loops, java.nio.file.Path trustedCa) {
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("timeout must be positive: " + timeout);
    }
    this.clusterSeeds = clusterSeeds(uri);
    this.uri = clusterSeeds != null ? clusterSeeds.get(0) : RedisURI.create(uri);
    List<RedisURI> seeds = clusterSeeds != null ? clusterSeeds : List.of(this.uri);
    seeds.forEach(seed -> seed.setTimeout(timeout));
    this.description = clusterSeeds != null ? describeCluster(clusterSeeds) : describe(this.uri);
    this.prefix = prefix.getBytes(StandardCharsets.UTF_8);
    this.timeout = timeout;
    Delay reconnectDelay = Delay.exponential(Duration.ofMillis(50), MAX_CONNECT_BACKOFF, 2, TimeUnit.MILLISECONDS);
    Duration connectTimeout = timeout.compareTo(Duration.ofSeconds(1)) > 0 ? timeout : Duration.ofSeconds(1);
    ClientOptions options = ClientOptions.builder()
        .autoReconnect(true)
        // Fail at once while reconnecting: buffered commands would stall queries, grow without
        // bound and run late.
        .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
        .requestQueueSize(100_000)
        .socketOptions(SocketOptions.builder().connectTimeout(connectTimeout).keepAlive(true).build())
        // No per-command timer: ResilientStore's deadline bounds every call (see the class comment).
        .timeoutOptions(TimeoutOptions.builder().timeoutCommands(false).build())
        // Maintenance notifications (CLIENT MAINT_NOTIFICATIONS) are a Redis 8 / Redis Cloud feature; older
        // servers refuse the command, which fails a cluster's topology refresh.
        .maintNotificationsConfig(io.lettuce.core.MaintNotificationsConfig.disabled())
        .sslOptions(trustedCa == null ? io.lettuce.core.SslOptions.create()
            : io.lettuce.core.SslOptions.builder().jdkSslProvider().trustManager(trustedCa.toFile()).build())
        .build();
    // A cluster's slot map is refreshed when a node redirects a command (MOVED, ASK) or drops, and every 30 s.
    ClusterClientOptions.Builder cluster = ClusterClientOptions.builder(options);
    cluster.maintNotificationsConfig(io.lettuce.core.MaintNotificationsConfig.disabled()); // not copied by builder()
    cluster.sslOptions(options.getSslOptions());
    // A cluster connection opens its connection to a node when a command first goes there; rejecting commands
    // until it is up would fail the first commands to every node. Queued commands are still bounded by the
    // queue size and, for the caller, by ResilientStore's deadline (a late write is harmless: entries carry
    // their tokens, and a late bump only invalidates more).
    cluster.disconnectedBehavior(ClientOptions.DisconnectedBehavior.ACCEPT_COMMANDS);
    ClusterClientOptions clusterOptions = cluster
        .topologyRefreshOptions(ClusterTopologyRefreshOptions.builder()
            .enableAllAdaptiveRefreshTriggers()
            .enablePeriodicRefresh(Duration.ofSeconds(30))
            .build())
        .build();
    boolean addressesOnly = seeds.stream().allMatch(RedisStore::addressesOnly);
    // A host name is resolved by Lettuce's DNS resolver, whose channels are of the transport Lettuce prefers: on
    // loops of another transport (NIO where epoll is available) it cannot run, so such a store keeps Lettuce's
    // own threads. Addresses and Unix sockets need no resolver and go on any loops.
    boolean onLoops = loops != null && (addressesOnly || Transports.socketChannelClass().equals(loops.socketChannel()));
    if (loops != null && !onLoops) {
      log.info("Redis connections on Lettuce's own threads: {} needs name resolution, which Lettuce does with its "
          + "own transport ({}), not {}", description, Transports.socketChannelClass().getSimpleName(),
          loops.socketChannel().getSimpleName());
    }
    if (onLoops) {
      // Lettuce's computation threads and timer: reconnect delays and events only, nothing per command.
      this.resources = resolver(ClientResources.builder(), addressesOnly)
          .ioThreadPoolSize(1)
          .computationThreadPoolSize(1)
          .reconnectDelay(reconnectDelay)
          .build();
      List<Lane> list = new ArrayList<>();
      for (EventExecutor e : loops.group()) {
        EventLoop loop = (EventLoop) e;
        ClientResources laneResources = resolver(ClientResources.builder(), addressesOnly)
            .eventLoopGroupProvider(new OneLoop(loop))
            .eventExecutorGroup(loop)
            .timer(resources.timer())
            .reconnectDelay(reconnectDelay)
            .nettyCustomizer(CONSOLIDATE_FLUSHES)
            .build();
        list.add(new Lane(loop, laneResources, newClient(laneResources, options, clusterOptions, loop, loops)));
      }
      this.lanes = list.toArray(Lane[]::new);
    } else {
      this.resources = resolver(ClientResources.builder(), addressesOnly)
          .ioThreadPoolSize(2)
          .computationThreadPoolSize(1)
          .reconnectDelay(reconnectDelay)
          .build();
      this.lanes = new Lane[] {new Lane(null, resources, newClient(resources, options, clusterOptions, null, null))};
    }
    this.connectWarning = new RateLimitedLog(log, TimeUnit.SECONDS.toNanos(10), System::nanoTime);
    for (Lane lane : lanes) {
      watchForLoss(lane);
      connect(lane, Duration.ofMillis(50));
    }
  }

  /**
   * Whether every host of a URI (its Sentinels' too) is an IP address, which needs no name resolution. Lettuce's
   * default resolver (netty-resolver-dns) opens a UDP channel on each event loop it connects from even for an
   * address, and Netty's io_uring transport can lose that channel's receive buffer when it is closed.
   */
  static boolean addressesOnly(RedisURI uri) {
    if (uri.getSocket() != null) {
      return true;
    }
    Stream<String> hosts = uri.getSentinels().isEmpty()
        ? Stream.of(uri.getHost())
        : uri.getSentinels().stream().map(RedisURI::getHost);
    return hosts.allMatch(h -> h != null && (NetUtil.isValidIpV4Address(h) || NetUtil.isValidIpV6Address(h)));
  }

  /** IP addresses are parsed by the JDK (no lookup, no channel); names keep Lettuce's non-blocking resolver. */
  private static ClientResources.Builder resolver(ClientResources.Builder builder, boolean addressesOnly) {
    return addressesOnly ? builder.addressResolverGroup(DefaultAddressResolverGroup.INSTANCE) : builder;
  }

  @Override
  public void onPossibleLoss(Runnable listener) {
    lossListeners.add(listener);
  }

  /**
   * Calls the loss listeners when acknowledged writes may be gone. One server or Sentinel: every
   * reconnection of a lane's established connection (the server may have restarted from older files, or
   * Sentinel may have promoted a replica that missed the last bumps). A cluster: every change of the
   * topology Lettuce sees (a failover promotes a replica); a cluster also opens connections for its
   * periodic topology refresh, so its reconnections are not counted.
   */
  private void watchForLoss(Lane lane) {
    if (lane.client instanceof RedisClusterClient) {
      lane.resources.eventBus().get()
          .filter(e -> e instanceof io.lettuce.core.cluster.event.ClusterTopologyChangedEvent)
          .subscribe(e -> possibleLoss("the cluster topology changed"));
      return;
    }
    lane.client.addListener(new io.lettuce.core.RedisConnectionStateListener() {
      @Override
      public void onRedisConnected(io.lettuce.core.RedisChannelHandler<?, ?> connection,
          java.net.SocketAddress address) {
        // Only the lane's own connection coming back counts: its first connection completes after this call,
        // and Sentinel's lookups of the master use connections of their own.
        if (connection != null && connection == lane.connection) {
          possibleLoss("reconnected to " + address);
        }
      }
    });
  }

  private void possibleLoss(String why) {
    if (closed) {
      return;
    }
    log.warn("{}: {}; treating the latest invalidations as lost", description, why);
    lossListeners.forEach(Runnable::run);
  }

  private AbstractRedisClient newClient(ClientResources resources, ClientOptions options,
      ClusterClientOptions clusterOptions, EventLoop loop, Loops loops) {
    if (clusterSeeds != null) {
      RedisClusterClient client = loop == null
          ? RedisClusterClient.create(resources, clusterSeeds)
          : new LaneClusterClient(resources, clusterSeeds, new OnLoop(loop, loops));
      client.setOptions(clusterOptions);
      return client;
    }
    RedisClient client = loop == null ? RedisClient.create(resources)
        : new LaneClient(resources, uri, new OnLoop(loop, loops));
    client.setOptions(options);
    return client;
  }

  /**
   * The caller's event loops and their transport: the channel classes a connection on them needs (Lettuce
   * would pick its own, epoll when available, and for a Unix socket only epoll or kqueue).
   *
   * @param group the loops, one Redis connection on each
   * @param socketChannel their transport's TCP channel class
   * @param domainSocketChannel their transport's Unix-domain-socket channel class
   * @param domainSocketAddress the address {@code domainSocketChannel} connects to, given the socket's path
   */
  public record Loops(EventLoopGroup group, Class<? extends Channel> socketChannel,
      Class<? extends Channel> domainSocketChannel, Function<String, SocketAddress> domainSocketAddress) {
  }

  /**
   * One lane's loop and the loops' transport, which its client's connections are put on. Lettuce configures a
   * bootstrap with the channel class of the transport it prefers (epoll when available, and for a Unix socket it
   * insists on epoll or kqueue), and a bootstrap's channel class cannot be changed once set; so Lettuce configures
   * one as for TCP, and {@link #configure} replaces it by a bootstrap with the loop, the loops' channel class, and
   * the options and attributes that apply to it. The handler, which Lettuce adds later, goes on the replacement.
   */
  private record OnLoop(EventLoop loop, Loops loops) {
    void configure(ConnectionBuilder builder, RedisURI uri) {
      BootstrapConfig configured = builder.bootstrap().config();
      boolean socket = uri.getSocket() != null;
      Bootstrap b = new Bootstrap().group(loop).channel(socket ? loops.domainSocketChannel() : loops.socketChannel());
      configured.options().forEach((option, value) -> {
        if (!socket || option == ChannelOption.ALLOCATOR || option == ChannelOption.CONNECT_TIMEOUT_MILLIS) {
          @SuppressWarnings("unchecked")
          ChannelOption<Object> o = (ChannelOption<Object>) option;
          b.option(o, value);
        }
      });
      configured.attrs().forEach((key, value) -> {
        @SuppressWarnings("unchecked")
        AttributeKey<Object> k = (AttributeKey<Object>) key;
        b.attr(k, value);
      });
      b.attr(ConnectionBuilder.REDIS_URI, uri.toString());
      if (!socket && configured.resolver() != null) {
        b.resolver(configured.resolver());
      }
      builder.bootstrap(b);
    }
  }

  /** A client whose connections live on one of the caller's loops (see {@link Loops}). */
  private static final class LaneClient extends RedisClient {
    private final OnLoop onLoop;

    LaneClient(ClientResources resources, RedisURI uri, OnLoop onLoop) {
      super(resources, uri);
      this.onLoop = onLoop;
    }

    @Override
    protected void connectionBuilder(Mono<SocketAddress> address, ConnectionBuilder builder,
        ConnectionEvents events, RedisURI uri) {
      RedisURI asTcp = uri;
      if (uri.getSocket() != null) {
        // Lettuce refuses a socket without epoll or kqueue; the copy keeps the credentials, database and timeout.
        asTcp = RedisURI.builder(uri).build();
        asTcp.setSocket(null);
        asTcp.setHost("localhost");
      }
      super.connectionBuilder(address, builder, events, asTcp);
      onLoop.configure(builder, uri);
    }

    @Override
    protected Mono<SocketAddress> getSocketAddress(RedisURI uri) {
      return uri.getSocket() != null
          ? Mono.just(onLoop.loops().domainSocketAddress().apply(uri.getSocket()))
          : super.getSocketAddress(uri);
    }
  }

  /** A cluster client whose connections (to every node) live on one of the caller's loops. */
  private static final class LaneClusterClient extends RedisClusterClient {
    private final OnLoop onLoop;

    LaneClusterClient(ClientResources resources, List<RedisURI> seeds, OnLoop onLoop) {
      super(resources, seeds);
      this.onLoop = onLoop;
    }

    @Override
    protected void connectionBuilder(Mono<SocketAddress> address, ConnectionBuilder builder,
        ConnectionEvents events, RedisURI uri) {
      super.connectionBuilder(address, builder, events, uri);
      onLoop.configure(builder, uri);
    }
  }

  /** True while every connection to Redis is up. */
  public boolean isConnected() {
    for (Lane lane : lanes) {
      StatefulConnection<byte[], byte[]> c = lane.connection;
      if (c == null || !c.isOpen()) {
        return false;
      }
    }
    return true;
  }

  /** How many connections this store keeps to Redis (one per event loop it was given). */
  public int connections() {
    return lanes.length;
  }

  public Duration timeout() {
    return timeout;
  }

  @Override
  public CompletableFuture<Lookup> lookup(byte[] entryKey, List<byte[]> tokenKeys) {
    RedisClusterAsyncCommands<byte[], byte[]> redis;
    try {
      redis = commands();
    } catch (CacheUnavailableException e) {
      return CompletableFuture.failedFuture(e);
    }
    byte[][] keys = new byte[1 + tokenKeys.size()][];
    keys[0] = key(entryKey);
    for (int i = 0; i < tokenKeys.size(); i++) {
      keys[i + 1] = key(tokenKeys.get(i));
    }
    return redis.mget(keys).toCompletableFuture().thenCompose(values -> {
      byte[] entry = values.get(0).getValueOrElse(null);
      return completeTokens(redis, keys, 1, values).thenApply(tokens -> new Lookup(entry, tokens));
    });
  }

  @Override
  public CompletableFuture<List<byte[]>> tokens(List<byte[]> tokenKeys) {
    if (tokenKeys.isEmpty()) {
      return CompletableFuture.completedFuture(List.of());
    }
    RedisClusterAsyncCommands<byte[], byte[]> redis;
    try {
      redis = commands();
    } catch (CacheUnavailableException e) {
      return CompletableFuture.failedFuture(e);
    }
    byte[][] keys = new byte[tokenKeys.size()][];
    for (int i = 0; i < keys.length; i++) {
      keys[i] = key(tokenKeys.get(i));
    }
    return redis.mget(keys).toCompletableFuture()
        .thenCompose(values -> completeTokens(redis, keys, 0, values));
  }

  @Override
  public CompletableFuture<Void> put(byte[] entryKey, byte[] entry, Duration ttl) {
    long ttlMillis = positiveTtl(ttl).toMillis();
    try {
      return commands().set(key(entryKey), entry, SetArgs.Builder.px(ttlMillis))
          .toCompletableFuture().thenApply(ok -> null);
    } catch (CacheUnavailableException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  @Override
  public CompletableFuture<Void> bump(List<byte[]> tokenKeys) {
    if (tokenKeys.isEmpty()) {
      return CompletableFuture.completedFuture(null);
    }
    Map<byte[], byte[]> fresh = new LinkedHashMap<>();
    for (byte[] k : tokenKeys) {
      fresh.put(key(k), Tokens.fresh()); // byte[] keys hash by identity: duplicates stay, last wins
    }
    try {
      return commands().mset(fresh).toCompletableFuture().thenApply(ok -> null);
    } catch (CacheUnavailableException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  /**
   * Bumps the global epoch (the future completes then), then deletes this namespace's entries in the
   * background with SCAN and UNLINK to free memory; they could no longer match anyway.
   */
  @Override
  public CompletableFuture<Void> invalidateAll() {
    return bump(List.of(Keys.globalEpoch())).thenRun(() -> {
      byte[] pattern = concat(globEscape(prefix), (Keys.ENTRY_PREFIX + "*").getBytes(StandardCharsets.UTF_8));
      unlinkAll(ScanCursor.INITIAL, pattern, 0).whenComplete((n, e) -> {
        if (e != null) {
          log.warn("invalidate all: global epoch bumped, but deleting entries failed after {}: {}",
              n, RateLimitedLog.describe(e));
        } else {
          log.info("invalidate all: global epoch bumped, {} entries deleted from {}", n, description);
        }
      });
    });
  }

  @Override
  public String describe() {
    return description;
  }

  /**
   * Closes the connections and Lettuce's resources. Call it before the event loops given to the
   * constructor shut down, and not from one of them (it waits up to a few seconds).
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    List<CompletableFuture<Void>> closing = new ArrayList<>();
    for (Lane lane : lanes) {
      StatefulConnection<byte[], byte[]> c = lane.connection;
      lane.connection = null;
      lane.commands = null;
      if (c != null) {
        closing.add(c.closeAsync());
      }
    }
    try {
      CompletableFuture.allOf(closing.toArray(CompletableFuture[]::new)).get(2, TimeUnit.SECONDS);
    } catch (Exception e) {
      log.debug("closing Redis connections: {}", RateLimitedLog.describe(e));
    }
    for (Lane lane : lanes) {
      lane.client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
      if (lane.resources != resources) {
        lane.resources.shutdown(0, 2, TimeUnit.SECONDS);
      }
    }
    resources.shutdown(0, 2, TimeUnit.SECONDS);
  }

  // --- internals ---

  /**
   * The connection of the caller's event loop, so that the reply completes on the caller's thread;
   * from another thread, or while that connection is down, any connection that is up.
   */
  private RedisClusterAsyncCommands<byte[], byte[]> commands() {
    Lane[] all = lanes;
    RedisClusterAsyncCommands<byte[], byte[]> mine = null;
    if (all.length == 1) {
      mine = all[0].commands;
    } else {
      for (Lane lane : all) {
        if (lane.loop.inEventLoop()) {
          mine = lane.commands;
          break;
        }
      }
    }
    if (mine != null) {
      return mine;
    }
    for (Lane lane : all) {
      RedisClusterAsyncCommands<byte[], byte[]> any = lane.commands;
      if (any != null) {
        return any;
      }
    }
    throw new CacheUnavailableException(closed
        ? "store closed"
        : "not connected to " + description + " (" + connectAttempts.get() + " connect attempts so far)");
  }

  /**
   * Turns MGET results into tokens, creating the missing ones: SET NX a fresh value, then GET what won.
   * Both are pipelined behind each other on the one connection, so this is one more round trip, and
   * only the first time a token is needed (or after Redis lost it).
   */
  private static CompletableFuture<List<byte[]>> completeTokens(
      RedisClusterAsyncCommands<byte[], byte[]> redis, byte[][] keys, int first, List<KeyValue<byte[], byte[]>> values) {
    int n = keys.length - first;
    byte[][] tokens = new byte[n][];
    List<CompletableFuture<Void>> created = null;
    for (int i = 0; i < n; i++) {
      KeyValue<byte[], byte[]> kv = values.get(first + i);
      if (kv.hasValue()) {
        tokens[i] = kv.getValue();
        continue;
      }
      if (created == null) {
        created = new ArrayList<>();
      }
      byte[] key = keys[first + i];
      int slot = i;
      CompletableFuture<String> set =
          redis.set(key, Tokens.fresh(), SetArgs.Builder.nx()).toCompletableFuture();
      CompletableFuture<byte[]> get = redis.get(key).toCompletableFuture();
      // thenCombine fails with SET's error first (e.g. OOM), which says more than a missing value.
      created.add(set.thenCombine(get, (ignored, winner) -> {
        if (winner == null) {
          // Deleted between SET NX and GET (FLUSHALL, eviction): nothing to record against.
          throw new CacheUnavailableException("version token vanished while being created");
        }
        tokens[slot] = winner;
        return null;
      }));
    }
    if (created == null) {
      return CompletableFuture.completedFuture(List.of(tokens));
    }
    return CompletableFuture.allOf(created.toArray(CompletableFuture[]::new))
        .thenApply(v -> List.of(tokens));
  }

  private CompletableFuture<Long> unlinkAll(ScanCursor cursor, byte[] pattern, long deletedSoFar) {
    RedisClusterAsyncCommands<byte[], byte[]> redis;
    try {
      redis = commands();
    } catch (CacheUnavailableException e) {
      return CompletableFuture.failedFuture(e);
    }
    return redis.scan(cursor, ScanArgs.Builder.matches(pattern).limit(1000)).toCompletableFuture()
        .thenCompose((KeyScanCursor<byte[]> page) -> {
          List<byte[]> keys = page.getKeys();
          CompletableFuture<Long> deleted = keys.isEmpty()
              ? CompletableFuture.completedFuture(0L)
              : redis.unlink(keys.toArray(byte[][]::new)).toCompletableFuture();
          return deleted.thenCompose(d -> page.isFinished() || closed
              ? CompletableFuture.completedFuture(deletedSoFar + d)
              : unlinkAll(page, pattern, deletedSoFar + d));
        });
  }

  private void connect(Lane lane, Duration nextBackoff) {
    if (closed) {
      return;
    }
    connectAttempts.incrementAndGet();
    CompletableFuture<? extends StatefulConnection<byte[], byte[]>> connecting;
    if (lane.client instanceof RedisClusterClient cluster) {
      // The slot map first (Lettuce does not load it in connectAsync), then the connection.
      connecting = cluster.refreshPartitionsAsync().toCompletableFuture()
          .thenCompose(loaded -> cluster.connectAsync(ByteArrayCodec.INSTANCE));
    } else {
      connecting = ((RedisClient) lane.client).connectAsync(ByteArrayCodec.INSTANCE, uri).toCompletableFuture();
    }
    connecting.whenComplete((c, e) -> {
      if (e == null) {
        if (closed) {
          c.closeAsync();
          return;
        }
        lane.connection = c;
        lane.commands = c instanceof io.lettuce.core.cluster.api.StatefulRedisClusterConnection<byte[], byte[]> cc
            ? cc.async()
            : ((io.lettuce.core.api.StatefulRedisConnection<byte[], byte[]>) c).async();
        log.info("connected to {}{}", description, lane.loop == null ? "" : " (on " + lane.loop + ")");
        return;
      }
      if (closed) {
        return;
      }
      connectWarning.warn("cannot connect to " + description + ", cache bypassed; retrying", e);
      Duration after = nextBackoff.compareTo(MAX_CONNECT_BACKOFF) < 0 ? nextBackoff.multipliedBy(2) : MAX_CONNECT_BACKOFF;
      try {
        resources.eventExecutorGroup().schedule(
            () -> connect(lane, after), nextBackoff.toMillis(), TimeUnit.MILLISECONDS);
      } catch (RuntimeException rejected) {
        // Shutting down.
      }
    });
  }

  private byte[] key(byte[] logical) {
    return prefix.length == 0 ? logical : concat(prefix, logical);
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = new byte[a.length + b.length];
    System.arraycopy(a, 0, out, 0, a.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  /** Escapes Redis glob characters so that a prefix matches only itself in SCAN MATCH. */
  private static byte[] globEscape(byte[] raw) {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(raw.length + 4);
    for (byte b : raw) {
      if (b == '*' || b == '?' || b == '[' || b == ']' || b == '\\') {
        out.write('\\');
      }
      out.write(b);
    }
    return out.toByteArray();
  }

  /** Rejects non-positive TTLs; rounds a sub-millisecond TTL up to Redis' 1 ms granularity. */
  static Duration positiveTtl(Duration ttl) {
    if (ttl.isNegative() || ttl.isZero()) {
      throw new IllegalArgumentException("ttl must be positive: " + ttl);
    }
    return ttl.toMillis() == 0 ? Duration.ofMillis(1) : ttl;
  }

  /**
   * The seed nodes of {@code redis[s]-cluster://[[user:]password@]host[:port][,host[:port]...]} (port 6379 when
   * left out), each with the credentials and TLS of the URL; null for any other URL.
   */
  static List<RedisURI> clusterSeeds(String url) {
    boolean tls = url.startsWith("rediss-cluster://");
    if (!tls && !url.startsWith("redis-cluster://")) {
      return null;
    }
    String rest = url.substring(url.indexOf("://") + 3);
    if (rest.endsWith("/")) {
      rest = rest.substring(0, rest.length() - 1);
    }
    int at = rest.lastIndexOf('@');
    String user = null;
    String password = null;
    if (at >= 0) {
      String userInfo = java.net.URLDecoder.decode(rest.substring(0, at).replace("+", "%2B"), StandardCharsets.UTF_8);
      int colon = userInfo.indexOf(':');
      user = colon < 0 ? null : userInfo.substring(0, colon);
      password = colon < 0 ? userInfo : userInfo.substring(colon + 1);
    }
    List<RedisURI> seeds = new ArrayList<>();
    for (String node : rest.substring(at + 1).split(",")) {
      if (node.isEmpty()) {
        continue;
      }
      String[] hostPort = dev.pgmemo.config.HostPort.split(node);
      if (hostPort == null) {
        throw new IllegalArgumentException("invalid cluster node \"" + node + "\" (expected host[:port])");
      }
      int port = hostPort[1] == null ? RedisURI.DEFAULT_REDIS_PORT : Integer.parseInt(hostPort[1]);
      RedisURI.Builder seed = RedisURI.builder().withHost(hostPort[0]).withPort(port).withSsl(tls);
      if (password != null && !password.isEmpty()) {
        if (user != null && !user.isEmpty()) {
          seed.withAuthentication(user, password);
        } else {
          seed.withPassword(password.toCharArray());
        }
      }
      seeds.add(seed.build());
    }
    if (seeds.isEmpty()) {
      throw new IllegalArgumentException("no cluster node in " + describeCluster(List.of()));
    }
    return seeds;
  }

  private static String describeCluster(List<RedisURI> seeds) {
    StringBuilder sb = new StringBuilder(!seeds.isEmpty() && seeds.get(0).isSsl() ? "rediss-cluster://" : "redis-cluster://");
    for (int i = 0; i < seeds.size(); i++) {
      sb.append(i == 0 ? "" : ",").append(seeds.get(i).getHost()).append(':').append(seeds.get(i).getPort());
    }
    return sb.toString();
  }

  private static String describe(RedisURI uri) {
    if (uri.getSocket() != null) {
      return "redis-socket://" + uri.getSocket();
    }
    if (!uri.getSentinels().isEmpty()) {
      return "redis-sentinel://" + uri.getSentinels().get(0).getHost() + ":"
          + uri.getSentinels().get(0).getPort() + "#" + uri.getSentinelMasterId();
    }
    String db = uri.getDatabase() == 0 ? "" : "/" + uri.getDatabase();
    return (uri.isSsl() ? "rediss://" : "redis://") + uri.getHost() + ":" + uri.getPort() + db;
  }

  /**
   * Gives Lettuce one event loop of the caller's for every connection of a client, and never shuts it
   * down (its owner does). Lettuce asks for its preferred group type; any event loop of the matching
   * transport serves, which the constructor checked.
   */
  private static final class OneLoop implements EventLoopGroupProvider {
    private final EventLoop loop;

    OneLoop(EventLoop loop) {
      this.loop = loop;
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends EventLoopGroup> T allocate(Class<T> type) {
      return (T) loop;
    }

    @Override
    public int threadPoolSize() {
      return 1;
    }

    @Override
    public io.netty.util.concurrent.Future<Boolean> release(EventExecutorGroup group, long quietPeriod, long timeout,
        TimeUnit unit) {
      return ImmediateEventExecutor.INSTANCE.newSucceededFuture(true);
    }

    @Override
    public io.netty.util.concurrent.Future<Boolean> shutdown(long quietPeriod, long timeout, TimeUnit unit) {
      return ImmediateEventExecutor.INSTANCE.newSucceededFuture(true);
    }
  }
}
