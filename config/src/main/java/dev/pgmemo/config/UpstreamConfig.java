package dev.pgmemo.config;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The PostgreSQL server pgmemo forwards to. User, password and database are not part of it: each
 * client sends its own in the startup message and pgmemo passes them through.
 *
 * <p>As in libpq, a host that starts with {@code /} is the directory of the server's Unix-domain socket,
 * whose file is {@code .s.PGSQL.<port>} in it.
 *
 * @param host        a host name or IP address, or the absolute path of a socket directory
 * @param sslRootCert CA certificate(s) to verify the server with; null = the JVM's trust store
 */
public record UpstreamConfig(String host, int port, SslMode sslMode, Path sslRootCert) {
    public static final int DEFAULT_PORT = 5432;
    private static final String EXPECTED = "expected postgresql://host:port[?sslmode=...&sslrootcert=...], "
            + "postgresql://?host=/socket/dir[&port=...] or host:port";

    public UpstreamConfig {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(sslMode, "sslMode");
        if (host.isEmpty()) {
            throw new IllegalArgumentException("empty host");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " out of range 1-65535");
        }
        if (host.startsWith("/")) {
            // libpq does not use TLS over a Unix-domain socket either; refusing beats silently not verifying.
            if (sslMode.compareTo(SslMode.REQUIRE) >= 0) {
                throw new IllegalArgumentException("sslmode=" + sslMode.libpqName()
                        + " cannot be met over the Unix-domain socket in " + host
                        + " (TLS is not used on local sockets); use sslmode=disable or a TCP host");
            }
            Path socket = socketPath(host, port);
            if (SocketPaths.tooLong(socket)) {
                throw new IllegalArgumentException("Unix-domain socket path " + socket + " is "
                        + SocketPaths.bytes(socket) + " bytes long; the limit is " + SocketPaths.MAX_BYTES);
            }
        }
    }

    /** 127.0.0.1:5432 without TLS. */
    public static UpstreamConfig defaults() {
        return new UpstreamConfig("127.0.0.1", DEFAULT_PORT, SslMode.DISABLE, null);
    }

    /** The server's TCP address; null for a Unix-domain socket. */
    public HostPort address() {
        return unixSocket() ? null : new HostPort(host, port);
    }

    /** True when {@link #host} is a socket directory. */
    public boolean unixSocket() {
        return host.startsWith("/");
    }

    /** The socket file, {@code <host>/.s.PGSQL.<port>}; only for a {@link #unixSocket()}. */
    public Path socketPath() {
        return socketPath(host, port);
    }

    private static Path socketPath(String directory, int port) {
        return SocketPaths.inDirectory(Path.of(directory), port);
    }

    /** {@code host:port} (brackets around IPv6), or the socket file's path: for logs and messages. */
    public String describe() {
        return unixSocket() ? socketPath().toString() : address().toString();
    }

    /**
     * Parses {@code postgresql://host[:port][?sslmode=...&sslrootcert=...]} (also {@code postgres://})
     * or plain {@code host[:port]}; the port defaults to 5432. As in libpq's URIs, {@code host} and
     * {@code port} may also be given as parameters, and a host that is an absolute path (written as a
     * parameter, percent-encoded in the authority, or plain) is a Unix-domain socket directory:
     * {@code postgresql://?host=/var/run/postgresql}, {@code postgresql://%2Fvar%2Frun%2Fpostgresql:5433},
     * {@code /var/run/postgresql}. A relative {@code sslrootcert} is returned as written; the loader
     * resolves it against the config file's directory.
     *
     * @throws IllegalArgumentException with a message fit for the operator
     */
    public static UpstreamConfig parse(String s) {
        if (s == null || s.isBlank()) {
            throw new IllegalArgumentException("empty upstream (" + EXPECTED + ")");
        }
        int schemeEnd = s.indexOf("://");
        if (schemeEnd < 0) {
            if (s.startsWith("/")) {
                if (s.indexOf('?') >= 0 || s.indexOf('#') >= 0) {
                    throw new IllegalArgumentException("invalid upstream " + Texts.quote(s) + ": parameters need the"
                            + " URL form, e.g. postgresql://?host=/var/run/postgresql&port=5432");
                }
                return socketDirectory(s, s, false, SslMode.DISABLE, null);
            }
            if (s.indexOf('/') >= 0 || s.indexOf('?') >= 0 || s.indexOf('@') >= 0) {
                throw new IllegalArgumentException("invalid upstream " + Texts.quote(s) + " (" + EXPECTED + ")");
            }
            return hostAndPort(s, s, SslMode.DISABLE, null);
        }
        String scheme = s.substring(0, schemeEnd);
        if (!scheme.equals("postgresql") && !scheme.equals("postgres")) {
            throw new IllegalArgumentException("invalid upstream " + Texts.quote(s)
                    + ": unsupported scheme " + Texts.quote(scheme) + " (" + EXPECTED + ")");
        }
        String rest = s.substring(schemeEnd + 3);
        if (rest.indexOf('#') >= 0) {
            throw new IllegalArgumentException("invalid upstream " + Texts.quote(s) + ": unexpected '#'");
        }
        String query = null;
        int q = rest.indexOf('?');
        if (q >= 0) {
            query = rest.substring(q + 1);
            rest = rest.substring(0, q);
        }
        int slash = rest.indexOf('/');
        String authority = slash < 0 ? rest : rest.substring(0, slash);
        String database = slash < 0 ? "" : rest.substring(slash + 1);
        if (authority.indexOf('@') >= 0) {
            // Never echo the URL here: the part before '@' may hold a password.
            throw new IllegalArgumentException("upstream must not contain a user name or password: each client "
                    + "logs in with its own, which pgmemo passes through (remove the part before '@')");
        }
        if (!database.isEmpty()) {
            throw new IllegalArgumentException("upstream must not name a database (" + Texts.quote(database)
                    + "): each client chooses its database when it connects (use postgresql://"
                    + authority + ")");
        }
        if (authority.indexOf(',') >= 0) {
            throw new IllegalArgumentException("invalid upstream " + Texts.quote(s)
                    + ": several hosts are not supported; give one host:port");
        }
        SslMode sslMode = SslMode.DISABLE;
        Path rootCert = null;
        String hostParam = null;
        String portParam = null;
        if (query != null && !query.isEmpty()) {
            for (String param : query.split("&", -1)) {
                int eq = param.indexOf('=');
                String name = eq < 0 ? param : param.substring(0, eq);
                String value = eq < 0 ? "" : percentDecode(param.substring(eq + 1), s);
                switch (name) {
                    case "sslmode" -> sslMode = SslMode.fromLibpqName(value);
                    case "sslrootcert" -> rootCert = path(value, s);
                    case "host" -> hostParam = once(name, hostParam, value, s);
                    case "port" -> portParam = once(name, portParam, value, s);
                    case "user", "password", "dbname" -> throw new IllegalArgumentException(
                            "upstream must not contain " + name + "=...: each client chooses user, password "
                                    + "and database when it connects");
                    case "connect_timeout" -> throw new IllegalArgumentException(
                            "upstream parameter connect_timeout is not supported here: use the top-level "
                                    + "connect_timeout key");
                    default -> throw new IllegalArgumentException("upstream parameter " + Texts.quote(name)
                            + " is not supported (supported: host, port, sslmode, sslrootcert)");
                }
            }
        }
        if (hostParam != null || portParam != null) {
            if (!authority.isEmpty()) {
                throw new IllegalArgumentException("invalid upstream " + Texts.quote(s) + ": give the host"
                        + " and port either before the '?' or as host=/port= parameters, not both");
            }
            if (hostParam == null || hostParam.isEmpty()) {
                throw new IllegalArgumentException("invalid upstream " + Texts.quote(s) + ": missing host");
            }
            if (hostParam.indexOf(',') >= 0) {
                throw new IllegalArgumentException("invalid upstream " + Texts.quote(s)
                        + ": several hosts are not supported; give one host");
            }
            int port = portParam == null ? DEFAULT_PORT : HostPort.parsePort(portParam, s, 1);
            if (hostParam.startsWith("/")) {
                return new UpstreamConfig(socketDirectory(hostParam, s), port, sslMode, rootCert);
            }
            if (hostParam.startsWith("[")) {
                throw new IllegalArgumentException("invalid upstream " + Texts.quote(s)
                        + ": an IPv6 address in host= goes without brackets, e.g. host=::1");
            }
            return new UpstreamConfig(HostPort.checkHost(hostParam, s, true), port, sslMode, rootCert);
        }
        if (authority.isEmpty()) {
            throw new IllegalArgumentException("invalid upstream " + Texts.quote(s)
                    + ": missing host (e.g. postgresql://127.0.0.1:5432, or postgresql://?host=/var/run/postgresql"
                    + " for a Unix-domain socket)");
        }
        if (authority.regionMatches(true, 0, "%2F", 0, 3)) {
            return socketDirectory(authority, s, true, sslMode, rootCert);
        }
        return hostAndPort(authority, s, sslMode, rootCert);
    }

    private static String once(String name, String before, String value, String whole) {
        if (before != null) {
            throw new IllegalArgumentException("invalid upstream " + Texts.quote(whole) + ": " + name
                    + "= given twice");
        }
        return value;
    }

    /**
     * {@code /dir[:port]}: a socket directory, then a port when the text after the last ':' is all digits (a
     * directory may hold ':' itself). The port is split off before %-escapes are decoded, as libpq does, so
     * an encoded {@code %3A} stays part of the directory.
     */
    private static UpstreamConfig socketDirectory(String dirPort, String whole, boolean encoded, SslMode sslMode,
                                                  Path rootCert) {
        int colon = dirPort.lastIndexOf(':');
        boolean hasPort = colon >= 0 && colon + 1 < dirPort.length()
                && dirPort.substring(colon + 1).chars().allMatch(c -> c >= '0' && c <= '9');
        String dir = hasPort ? dirPort.substring(0, colon) : dirPort;
        int port = hasPort ? HostPort.parsePort(dirPort.substring(colon + 1), whole, 1) : DEFAULT_PORT;
        return new UpstreamConfig(socketDirectory(encoded ? percentDecode(dir, whole) : dir, whole), port, sslMode,
                rootCert);
    }

    /** Checks a socket directory's path and drops a trailing slash. */
    private static String socketDirectory(String dir, String whole) {
        if (dir.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("invalid upstream " + Texts.quote(whole)
                    + ": NUL in the socket directory");
        }
        try {
            Path path = Path.of(dir).normalize();
            return path.toString();
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException("invalid upstream " + Texts.quote(whole)
                    + ": invalid socket directory " + Texts.quote(dir));
        }
    }

    private static UpstreamConfig hostAndPort(String hostPort, String whole, SslMode sslMode, Path rootCert) {
        String[] parts = HostPort.split(hostPort);
        if (parts == null) {
            throw new IllegalArgumentException("invalid upstream " + Texts.quote(whole) + " (" + EXPECTED + ")");
        }
        String host = HostPort.checkHost(parts[0], whole);
        int port = parts[1] == null ? DEFAULT_PORT : HostPort.parsePort(parts[1], whole, 1);
        return new UpstreamConfig(host, port, sslMode, rootCert);
    }

    private static Path path(String value, String whole) {
        if (value.isEmpty()) {
            throw new IllegalArgumentException("invalid upstream " + Texts.quote(whole) + ": empty sslrootcert");
        }
        try {
            return Path.of(value);
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException("invalid upstream " + Texts.quote(whole)
                    + ": invalid sslrootcert path " + Texts.quote(value));
        }
    }

    /** Decodes %XX escapes as UTF-8; unlike URLDecoder, '+' stays '+' (it is legal in file names). */
    private static String percentDecode(String text, String whole) {
        if (text.indexOf('%') < 0) {
            return text;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '%') {
                int hi = i + 2 < text.length() ? Character.digit(text.charAt(i + 1), 16) : -1;
                int lo = i + 2 < text.length() ? Character.digit(text.charAt(i + 2), 16) : -1;
                if (hi < 0 || lo < 0) {
                    throw new IllegalArgumentException("invalid upstream " + Texts.quote(whole)
                            + ": bad %-escape in " + Texts.quote(text));
                }
                out.write(hi * 16 + lo);
                i += 2;
            } else {
                byte[] bytes = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
                out.write(bytes, 0, bytes.length);
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
