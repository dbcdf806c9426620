package dev.pgmemo.proxy;

import dev.pgmemo.cache.store.RedisStore;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringDomainSocketChannel;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerDomainSocketChannel;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.channel.uring.IoUringSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The socket transport of every channel pgmemo opens: Linux io_uring when the kernel allows it, else epoll,
 * else NIO. io_uring is the default because it used 2–5 µs less CPU per relayed transaction than epoll on the
 * benchmark machine (docs/benchmarks.md); a kernel or container that forbids it (Docker's default seccomp
 * profile does) falls back to epoll. {@code -Dpgmemo.transport=io_uring|epoll|nio} chooses, and a choice
 * that is unavailable here falls back the same way.
 */
record Transport(String name, IoHandlerFactory ioHandlerFactory, Class<? extends ServerChannel> serverChannel,
                 Class<? extends SocketChannel> socketChannel, Class<? extends Channel> domainSocketChannel,
                 Class<? extends ServerChannel> serverDomainSocketChannel) {

    /**
     * Lettuce's switch for its epoll transport. The Redis store's connections on our loops use our channel
     * classes whatever Lettuce would pick; switched off here, Lettuce does not warn at start-up that it prefers
     * epoll to io_uring.
     */
    private static final String LETTUCE_EPOLL = "io.lettuce.core.epoll";

    static Transport best() {
        String wanted = System.getProperty("pgmemo.transport",
                Boolean.getBoolean("pgmemo.nio") ? "nio" : "io_uring").toLowerCase(Locale.ROOT);
        if (wanted.equals("io_uring") && IoUring.isAvailable()) {
            if (System.getProperty(LETTUCE_EPOLL) == null) {
                // Lettuce prefers epoll when both load, and says so; tell it before its transport classes load.
                System.setProperty(LETTUCE_EPOLL, "false");
            }
            return new Transport("io_uring", IoUringIoHandler.newFactory(), IoUringServerSocketChannel.class,
                    IoUringSocketChannel.class, IoUringDomainSocketChannel.class,
                    IoUringServerDomainSocketChannel.class);
        }
        if (!wanted.equals("nio") && Epoll.isAvailable()) {
            return new Transport("epoll", EpollIoHandler.newFactory(), EpollServerSocketChannel.class,
                    EpollSocketChannel.class, EpollDomainSocketChannel.class, EpollServerDomainSocketChannel.class);
        }
        return new Transport("nio", NioIoHandler.newFactory(), NioServerSocketChannel.class, NioSocketChannel.class,
                NioDomainSocketChannel.class, NioServerDomainSocketChannel.class);
    }

    /**
     * The address a {@link #domainSocketChannel} connects to, or a {@link #serverDomainSocketChannel} binds to:
     * NIO takes the JDK's, the native ones Netty's.
     */
    SocketAddress domainSocketAddress(Path socket) {
        return name.equals("nio")
                ? UnixDomainSocketAddress.of(socket)
                : new DomainSocketAddress(socket.toString());
    }

    /** Event loops of this transport for the Redis store, with the channel classes its connections need. */
    RedisStore.Loops redisLoops(EventLoopGroup group) {
        return new RedisStore.Loops(group, socketChannel, domainSocketChannel,
                path -> domainSocketAddress(Path.of(path)));
    }

    EventLoopGroup newGroup(int threads, String prefix) {
        return new MultiThreadIoEventLoopGroup(threads, new DefaultThreadFactory(prefix, true), ioHandlerFactory);
    }
}
