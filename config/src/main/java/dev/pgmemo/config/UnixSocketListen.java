package dev.pgmemo.config;

import java.nio.file.Path;

/**
 * A second listener on a Unix-domain socket, as PostgreSQL and PgBouncer have: {@code unix_socket_dir} names
 * the directory, and the socket is {@code <dir>/.s.PGSQL.<port>} with the TCP listener's port, so that
 * {@code psql -h <dir> -p <port>} (libpq's rule) finds it.
 *
 * @param dir the directory the socket file goes in
 * @param mode the socket file's permission bits ({@code unix_socket_mode}, octal; 0777 by default, as
 *     PostgreSQL's {@code unix_socket_permissions} and PgBouncer's {@code unix_socket_mode})
 */
public record UnixSocketListen(Path dir, int mode) {
    public static final int DEFAULT_MODE = 0777;

    /** The socket file for a listener on {@code port}. */
    public Path socket(int port) {
        return SocketPaths.inDirectory(dir, port);
    }
}
