package dev.pgmemo.config;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * A host (name, IPv4 or IPv6 literal, without brackets) and a TCP port; port 0 asks the OS for an
 * ephemeral port, which tests use.
 */
public record HostPort(String host, int port) {
    private static final String EXPECTED = "expected host:port, e.g. 127.0.0.1:6433 or [::1]:6433";
    private static final Pattern HOST_NAME =
            Pattern.compile("[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*");
    private static final Pattern IPV4_LIKE = Pattern.compile("[0-9]+(\\.[0-9]+){3}");
    private static final Pattern IPV6 = Pattern.compile("[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9_.-]+)?");

    public HostPort {
        Objects.requireNonNull(host, "host");
        if (host.isEmpty()) {
            throw new IllegalArgumentException("empty host");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " out of range 0-65535");
        }
    }

    /**
     * Parses {@code host:port}; an IPv6 literal goes in brackets ({@code [::1]:6433}).
     *
     * @throws IllegalArgumentException with a message fit for the operator
     */
    public static HostPort parse(String s) {
        String[] parts = split(s);
        if (parts == null || parts[1] == null) {
            throw new IllegalArgumentException("invalid address " + Texts.quote(s) + ": " + EXPECTED);
        }
        return new HostPort(checkHost(parts[0], s), parsePort(parts[1], s, 0));
    }

    /** {@code host:port}, with brackets around an IPv6 literal, so that {@link #parse} reads it back. */
    @Override
    public String toString() {
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }

    /**
     * Splits {@code host[:port]} into host and port text (port null when absent); null when the
     * shape is wrong. Brackets are removed from an IPv6 host. Public for the cache store, which reads the
     * node list of a Redis Cluster URL that this module has already checked.
     */
    public static String[] split(String s) {
        if (s == null || s.isEmpty()) {
            return null;
        }
        if (s.startsWith("[")) {
            int close = s.indexOf(']');
            if (close < 0) {
                return null;
            }
            String host = s.substring(1, close);
            String rest = s.substring(close + 1);
            if (rest.isEmpty()) {
                return new String[] {host, null};
            }
            return rest.startsWith(":") ? new String[] {host, rest.substring(1)} : null;
        }
        int colon = s.lastIndexOf(':');
        if (colon < 0) {
            return new String[] {s, null};
        }
        return new String[] {s.substring(0, colon), s.substring(colon + 1)};
    }

    /** Validates a host (IPv6 already without brackets); {@code whole} is the full text for messages. */
    static String checkHost(String host, String whole) {
        return checkHost(host, whole, whole.indexOf('[') >= 0);
    }

    /**
     * As {@link #checkHost(String, String)}; {@code ipv6Allowed} says whether an IPv6 literal may stand here
     * (in host:port text only in brackets; a libpq {@code host=} parameter takes it bare).
     */
    static String checkHost(String host, String whole, boolean ipv6Allowed) {
        if (host.isEmpty()) {
            throw new IllegalArgumentException("invalid address " + Texts.quote(whole)
                    + ": missing host (use 0.0.0.0 or [::] for all interfaces)");
        }
        if (host.indexOf(':') >= 0) {
            if (!IPV6.matcher(host).matches() || !ipv6Allowed) {
                throw new IllegalArgumentException("invalid address " + Texts.quote(whole)
                        + ": an IPv6 address goes in brackets, e.g. [::1]:6433");
            }
            return host;
        }
        if (IPV4_LIKE.matcher(host).matches()) {
            for (String octet : host.split("\\.")) {
                if (octet.length() > 3 || Integer.parseInt(octet) > 255) {
                    throw new IllegalArgumentException("invalid address " + Texts.quote(whole)
                            + ": " + host + " is not an IPv4 address");
                }
            }
            return host;
        }
        if (!HOST_NAME.matcher(host).matches() || host.length() > 253) {
            throw new IllegalArgumentException("invalid address " + Texts.quote(whole)
                    + ": invalid host name " + Texts.quote(host));
        }
        return host;
    }

    /** Parses a decimal port in {@code min..65535}. */
    static int parsePort(String text, String whole, int min) {
        if (text.isEmpty() || text.length() > 5 || !text.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException("invalid address " + Texts.quote(whole)
                    + ": port " + Texts.quote(text) + " is not a number from " + min + " to 65535");
        }
        int port = Integer.parseInt(text);
        if (port < min || port > 65535) {
            throw new IllegalArgumentException("invalid address " + Texts.quote(whole)
                    + ": port " + port + " is out of range " + min + "-65535");
        }
        return port;
    }
}
