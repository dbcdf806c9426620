package dev.pgmemo.config;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Unix-domain socket paths, as every setting that names one checks them (upstream, {@code unix_socket_dir},
 * a {@code redis-socket://} store): libpq's file name for a port, and the length Linux allows.
 */
final class SocketPaths {
    /** The longest socket path Linux takes ({@code sun_path} is 108 bytes with its terminating NUL). */
    static final int MAX_BYTES = 107;

    private SocketPaths() {
    }

    /** libpq's socket file for {@code port} in {@code directory}: {@code <directory>/.s.PGSQL.<port>}. */
    static Path inDirectory(Path directory, int port) {
        return directory.resolve(".s.PGSQL." + port);
    }

    /** The path's length in bytes, as the kernel counts it. */
    static int bytes(Object path) {
        return path.toString().getBytes(StandardCharsets.UTF_8).length;
    }

    static boolean tooLong(Object path) {
        return bytes(path) > MAX_BYTES;
    }
}
