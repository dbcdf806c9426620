package dev.pgmemo.config;

/**
 * Checks {@code cache.store} URLs and hides their passwords in messages. Three deployments of Redis:
 * <ul>
 *   <li>one server: {@code redis[s]://[[user:]password@]host[:port][/db]}, the form Lettuce's
 *       {@code RedisURI.create} reads;
 *   <li>Sentinel: {@code redis[s]-sentinel://[[user:]password@]host[:port][,host[:port]...][/db]#master}, also
 *       Lettuce's form: the sentinels to ask, and the name of the master they watch;
 *   <li>Redis Cluster: {@code redis[s]-cluster://[[user:]password@]host[:port][,host[:port]...]}, pgmemo's form:
 *       some of the cluster's nodes (the rest are discovered), with no database (a cluster has only 0);
 *   <li>one server on this host's Unix-domain socket: {@code redis-socket://[[user:]password@]/path[?database=n]},
 *       Lettuce's form (Redis's {@code unixsocket} setting names the path).
 * </ul>
 */
final class StoreUrl {
    private static final String EXPECTED = "expected redis://host:port[/db], rediss://host:port[/db], "
            + "redis-sentinel://host:port[,host:port...][/db]#master, redis-cluster://host:port[,host:port...] "
            + "or redis-socket:///path/to/redis.sock[?database=n]";

    private static final String NOT_A_SOCKET_PATH = ": a socket URL names the socket's absolute path after "
            + "\"redis-socket://\" (redis-socket:///var/run/redis/redis.sock)";

    private StoreUrl() {
    }

    /** @throws IllegalArgumentException with a message fit for the operator, never showing a password */
    static void check(String url) {
        String shown = redact(url);
        int schemeEnd = url.indexOf("://");
        String scheme = schemeEnd < 0 ? "" : url.substring(0, schemeEnd);
        boolean sentinel = scheme.equals("redis-sentinel") || scheme.equals("rediss-sentinel");
        boolean cluster = scheme.equals("redis-cluster") || scheme.equals("rediss-cluster");
        if (scheme.equals("redis-socket")) {
            checkSocket(url, shown);
            return;
        }
        if (!sentinel && !cluster && !scheme.equals("redis") && !scheme.equals("rediss")) {
            String why = schemeEnd < 0 ? "" : ": unsupported scheme " + Texts.quote(scheme);
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown) + why + " (" + EXPECTED
                    + "; leave store out for the in-process store)");
        }
        String rest = url.substring(schemeEnd + 3);
        if (sentinel) {
            int hash = rest.lastIndexOf('#');
            if (hash < 0 || hash == rest.length() - 1) {
                throw new IllegalArgumentException("invalid store " + Texts.quote(shown)
                        + ": a Sentinel URL names the master after '#' (redis-sentinel://host:26379#mymaster)");
            }
            rest = rest.substring(0, hash);
        }
        if (rest.indexOf('?') >= 0 || rest.indexOf('#') >= 0) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown)
                    + ": URL parameters are not supported (" + EXPECTED + ")");
        }
        int slash = rest.indexOf('/');
        String authority = slash < 0 ? rest : rest.substring(0, slash);
        String db = slash < 0 ? "" : rest.substring(slash + 1);
        int at = authority.lastIndexOf('@');
        String hosts = at < 0 ? authority : authority.substring(at + 1);
        String[] nodes = hosts.split(",", -1);
        if (nodes.length > 1 && !sentinel && !cluster) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown)
                    + ": several hosts need redis-sentinel:// or redis-cluster:// (" + EXPECTED + ")");
        }
        for (String node : nodes) {
            String[] parts = HostPort.split(node);
            if (parts == null) {
                throw new IllegalArgumentException("invalid store " + Texts.quote(shown) + " (" + EXPECTED + ")");
            }
            try {
                HostPort.checkHost(parts[0], node);
                if (parts[1] != null) {
                    HostPort.parsePort(parts[1], node, 1);
                }
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("invalid store " + Texts.quote(shown) + ": "
                        + e.getMessage().replaceFirst("^invalid address \"[^\"]*\": ", ""));
            }
        }
        if (cluster && !db.isEmpty()) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown)
                    + ": Redis Cluster has only database 0 (remove /" + db + ")");
        }
        if (!db.isEmpty() && (db.length() > 9 || !db.chars().allMatch(c -> c >= '0' && c <= '9'))) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown) + ": database "
                    + Texts.quote(db) + " is not a number (" + EXPECTED + ")");
        }
    }

    /** {@code redis-socket://[[user:]password@]/path[?database=n]}: an absolute path, and a database at most. */
    private static void checkSocket(String url, String shown) {
        String rest = url.substring("redis-socket://".length());
        int slash = rest.indexOf('/');
        String userInfo = slash < 0 ? rest : rest.substring(0, slash);
        if (slash < 0 || !(userInfo.isEmpty() || userInfo.endsWith("@"))) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown) + NOT_A_SOCKET_PATH);
        }
        java.net.URI uri;
        try {
            uri = new java.net.URI(url);
        } catch (java.net.URISyntaxException e) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown) + ": " + e.getReason());
        }
        String path = uri.getPath();
        if (path == null || path.isEmpty() || path.endsWith("/") || uri.getFragment() != null) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown) + NOT_A_SOCKET_PATH);
        }
        if (SocketPaths.tooLong(path)) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown) + ": socket path is longer than "
                    + SocketPaths.MAX_BYTES + " bytes, which Linux does not allow");
        }
        String query = uri.getRawQuery();
        if (query == null) {
            return;
        }
        String[] nameValue = query.split("=", 2);
        String db = nameValue.length == 2 ? nameValue[1] : "";
        if (!(nameValue[0].equals("database") || nameValue[0].equals("db")) || query.indexOf('&') >= 0) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown)
                    + ": the only URL parameter of a socket URL is database=n (" + EXPECTED + ")");
        }
        if (db.isEmpty() || db.length() > 9 || !db.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException("invalid store " + Texts.quote(shown) + ": database "
                    + Texts.quote(db) + " is not a number (" + EXPECTED + ")");
        }
    }

    /**
     * The URL with any password replaced by {@code ***}; null stays null. The user information ends at the last
     * {@code @} before the path of a socket URL, else at the last {@code @} before a Sentinel's {@code #master}
     * (or the end), so a password with {@code /} or {@code @} in it is hidden whole.
     */
    static String redact(String url) {
        if (url == null) {
            return null;
        }
        int schemeEnd = url.indexOf("://");
        int start = schemeEnd < 0 ? 0 : schemeEnd + 3;
        int at;
        if (url.startsWith("redis-socket://")) {
            at = url.lastIndexOf("@/");
        } else {
            int end = url.length();
            if (url.startsWith("redis-sentinel://") || url.startsWith("rediss-sentinel://")) {
                int hash = url.lastIndexOf('#');
                if (hash >= start) {
                    end = hash; // the master's name after '#'
                }
            }
            at = end == 0 ? -1 : url.lastIndexOf('@', end - 1);
        }
        if (at < start) {
            return url;
        }
        String userInfo = url.substring(start, at);
        int colon = userInfo.indexOf(':');
        String user = colon < 0 ? "" : userInfo.substring(0, colon);
        return url.substring(0, start) + user + ":***" + url.substring(at);
    }
}
