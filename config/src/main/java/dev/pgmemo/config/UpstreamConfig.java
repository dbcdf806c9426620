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
 * @param sslRootCert CA certificate(s) to verify the server with; null = the JVM's trust store
 */
public record UpstreamConfig(String host, int port, SslMode sslMode, Path sslRootCert) {
    public static final int DEFAULT_PORT = 5432;
    private static final String EXPECTED =
            "expected postgresql://host:port[?sslmode=...&sslrootcert=...] or host:port";

    public UpstreamConfig {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(sslMode, "sslMode");
        if (host.isEmpty()) {
            throw new IllegalArgumentException("empty host");
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " out of range 1-65535");
        }
    }

    /** 127.0.0.1:5432 without TLS. */
    public static UpstreamConfig defaults() {
        return new UpstreamConfig("127.0.0.1", DEFAULT_PORT, SslMode.DISABLE, null);
    }

    /** The server's address. */
    public HostPort address() {
        return new HostPort(host, port);
    }

    /**
     * Parses {@code postgresql://host[:port][?sslmode=...&sslrootcert=...]} (also {@code postgres://})
     * or plain {@code host[:port]}; the port defaults to 5432. A relative {@code sslrootcert} is
     * returned as written; the loader resolves it against the config file's directory.
     *
     * @throws IllegalArgumentException with a message fit for the operator
     */
    public static UpstreamConfig parse(String s) {
        if (s == null || s.isBlank()) {
            throw new IllegalArgumentException("empty upstream (" + EXPECTED + ")");
        }
        int schemeEnd = s.indexOf("://");
        if (schemeEnd < 0) {
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
        if (authority.isEmpty()) {
            throw new IllegalArgumentException("invalid upstream " + Texts.quote(s)
                    + ": missing host (Unix-domain sockets are not supported; use e.g. postgresql://127.0.0.1:5432)");
        }
        if (authority.indexOf(',') >= 0) {
            throw new IllegalArgumentException("invalid upstream " + Texts.quote(s)
                    + ": several hosts are not supported; give one host:port");
        }
        SslMode sslMode = SslMode.DISABLE;
        Path rootCert = null;
        if (query != null && !query.isEmpty()) {
            for (String param : query.split("&", -1)) {
                int eq = param.indexOf('=');
                String name = eq < 0 ? param : param.substring(0, eq);
                String value = eq < 0 ? "" : percentDecode(param.substring(eq + 1), s);
                switch (name) {
                    case "sslmode" -> sslMode = SslMode.fromLibpqName(value);
                    case "sslrootcert" -> rootCert = path(value, s);
                    case "user", "password", "dbname" -> throw new IllegalArgumentException(
                            "upstream must not contain " + name + "=...: each client chooses user, password "
                                    + "and database when it connects");
                    case "connect_timeout" -> throw new IllegalArgumentException(
                            "upstream parameter connect_timeout is not supported here: use the top-level "
                                    + "connect_timeout key");
                    default -> throw new IllegalArgumentException("upstream parameter " + Texts.quote(name)
                            + " is not supported (supported: sslmode, sslrootcert)");
                }
            }
        }
        return hostAndPort(authority, s, sslMode, rootCert);
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
