package dev.pgmemo.config;

/**
 * Checks {@code cache.store} URLs, {@code redis[s]://[[user:]password@]host[:port][/db]}, the form
 * Lettuce's {@code RedisURI.create} reads, and hides their passwords in messages.
 */
final class StoreUrl {
    private static final String EXPECTED = "expected redis://host:port[/db] or rediss://host:port[/db]";

    private StoreUrl() {
    }

    /** @throws IllegalArgumentException with a message fit for the operator, never showing a password */
    static void check(String url) {
        int schemeEnd = url.indexOf("://");
        String scheme = schemeEnd < 0 ? "" : url.substring(0, schemeEnd);
        if (!scheme.equals("redis") && !scheme.equals("rediss")) {
            String why = schemeEnd < 0 ? "" : ": unsupported scheme " + Texts.quote(scheme);
            throw new IllegalArgumentException("invalid store " + Texts.quote(redact(url)) + why + " (" + EXPECTED
                    + "; leave store out for the in-process store)");
        }
        String rest = url.substring(schemeEnd + 3);
        if (rest.indexOf('?') >= 0 || rest.indexOf('#') >= 0) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(redact(url))
                    + ": URL parameters are not supported (" + EXPECTED + ")");
        }
        int slash = rest.indexOf('/');
        String authority = slash < 0 ? rest : rest.substring(0, slash);
        String db = slash < 0 ? "" : rest.substring(slash + 1);
        int at = authority.lastIndexOf('@');
        String hostPort = at < 0 ? authority : authority.substring(at + 1);
        String shown = redact(url);
        String[] parts = HostPort.split(hostPort);
        if (parts == null) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown) + " (" + EXPECTED + ")");
        }
        try {
            HostPort.checkHost(parts[0], hostPort);
            if (parts[1] != null) {
                HostPort.parsePort(parts[1], hostPort, 1);
            }
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown) + ": "
                    + e.getMessage().replaceFirst("^invalid address \"[^\"]*\": ", ""));
        }
        if (!db.isEmpty() && (db.length() > 9 || !db.chars().allMatch(c -> c >= '0' && c <= '9'))) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown) + ": database "
                    + Texts.quote(db) + " is not a number (" + EXPECTED + ")");
        }
    }

    /** The URL with any password replaced by {@code ***}; null stays null. */
    static String redact(String url) {
        if (url == null) {
            return null;
        }
        int schemeEnd = url.indexOf("://");
        int start = schemeEnd < 0 ? 0 : schemeEnd + 3;
        int slash = url.indexOf('/', start);
        int end = slash < 0 ? url.length() : slash;
        int at = url.lastIndexOf('@', end - 1);
        if (at < start) {
            return url;
        }
        String userInfo = url.substring(start, at);
        int colon = userInfo.indexOf(':');
        String user = colon < 0 ? "" : userInfo.substring(0, colon);
        return url.substring(0, start) + user + ":***" + url.substring(at);
    }
}
