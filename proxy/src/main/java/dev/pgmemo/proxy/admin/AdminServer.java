package dev.pgmemo.proxy.admin;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.pgmemo.config.HostPort;
import dev.pgmemo.proxy.PgmemoServer;
import dev.pgmemo.proxy.Version;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin HTTP endpoint: {@code GET /health}, {@code GET /metrics} (Prometheus text format),
 * {@code GET /status} (JSON for {@code pgmemo status}), {@code POST /stop} (graceful stop).
 * It binds to loopback by default; anyone who can reach it can stop pgmemo.
 */
public final class AdminServer {
    private static final Logger log = LoggerFactory.getLogger(AdminServer.class);

    private final HttpServer http;
    private final ExecutorService executor;

    public AdminServer(HostPort listen, PgmemoServer server, PrometheusMeterRegistry registry) throws IOException {
        try {
            http = HttpServer.create(new InetSocketAddress(listen.host(), listen.port()), 64);
        } catch (IOException e) {
            throw new IOException("cannot listen on admin address " + listen + ": " + e.getMessage(), e);
        }
        executor = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "pgmemo-admin");
            t.setDaemon(true);
            return t;
        });
        http.setExecutor(executor);
        http.createContext("/health", ex -> {
            if (!method(ex, "GET", "HEAD")) {
                return;
            }
            boolean ok = !server.isDraining();
            send(ex, ok ? 200 : 503, "application/json", ok ? "{\"status\":\"ok\"}\n" : "{\"status\":\"stopping\"}\n");
        });
        http.createContext("/metrics", ex -> {
            if (method(ex, "GET", "HEAD")) {
                send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", registry.scrape());
            }
        });
        http.createContext("/status", ex -> {
            if (method(ex, "GET", "HEAD")) {
                String body = "{\"status\":\"" + (server.isDraining() ? "stopping" : "running") + "\""
                        + ",\"pid\":" + ProcessHandle.current().pid()
                        + ",\"version\":\"" + Version.get() + "\""
                        + ",\"listen\":" + jsonString(new HostPort(server.config().listen().host(), server.port()).toString())
                        + (server.unixSocket() == null ? "" : ",\"unix_socket\":" + jsonString(server.unixSocket().toString()))
                        + ",\"upstream\":" + jsonString(server.config().upstream().describe())
                        + ",\"sessions\":" + server.openSessions() + "}\n";
                send(ex, 200, "application/json", body);
            }
        });
        http.createContext("/stop", ex -> {
            if (method(ex, "POST")) {
                send(ex, 202, "application/json", "{\"status\":\"stopping\"}\n");
                Thread stopper = new Thread(server::close, "pgmemo-stop");
                stopper.start();
            }
        });
        http.createContext("/reload", ex -> {
            if (method(ex, "POST")) {
                try {
                    send(ex, 200, "text/plain; charset=utf-8", server.reload() + "\n");
                } catch (dev.pgmemo.config.ConfigException e) {
                    send(ex, 400, "text/plain; charset=utf-8", "reload refused, the running configuration is unchanged: " + e.getMessage() + "\n");
                }
            }
        });
        http.createContext("/invalidate", ex -> {
            if (!method(ex, "POST")) {
                return;
            }
            java.util.Map<String, String> q = query(ex.getRequestURI().getRawQuery());
            java.util.concurrent.CompletableFuture<String> f;
            if (q.containsKey("all")) {
                f = server.invalidateAll();
            } else if (q.get("table") != null && !q.get("table").isBlank()) {
                f = server.invalidateTable(q.get("table"), q.get("database"));
            } else {
                send(ex, 400, "text/plain; charset=utf-8", "give table=NAME (and optionally database=DB) or all=1\n");
                return;
            }
            try {
                send(ex, 200, "text/plain; charset=utf-8", f.get(10, java.util.concurrent.TimeUnit.SECONDS) + "\n");
            } catch (Exception e) {
                send(ex, 503, "text/plain; charset=utf-8", "invalidation failed (cache store unavailable?): " + e + "\n");
            }
        });
        http.start();
    }

    public int port() {
        return http.getAddress().getPort();
    }

    public void stop() {
        http.stop(0);
        executor.shutdownNow();
    }

    private static boolean method(HttpExchange ex, String... allowed) throws IOException {
        for (String m : allowed) {
            if (m.equals(ex.getRequestMethod())) {
                return true;
            }
        }
        ex.getResponseHeaders().set("Allow", String.join(", ", allowed));
        send(ex, 405, "text/plain", "method not allowed\n");
        return false;
    }

    private static java.util.Map<String, String> query(String raw) {
        java.util.Map<String, String> out = new java.util.HashMap<>();
        if (raw == null) {
            return out;
        }
        for (String part : raw.split("&")) {
            int eq = part.indexOf('=');
            String k = java.net.URLDecoder.decode(eq < 0 ? part : part.substring(0, eq), StandardCharsets.UTF_8);
            String v = eq < 0 ? "" : java.net.URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8);
            out.put(k, v);
        }
        return out;
    }

    static void send(HttpExchange ex, int status, String contentType, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", contentType);
        try {
            if ("HEAD".equals(ex.getRequestMethod())) {
                ex.sendResponseHeaders(status, -1);
            } else {
                ex.sendResponseHeaders(status, bytes.length);
                try (OutputStream out = ex.getResponseBody()) {
                    out.write(bytes);
                }
            }
        } catch (IOException e) {
            log.debug("admin client went away: {}", e.getMessage());
        } finally {
            ex.close();
        }
    }

    /** A JSON string literal (the upstream may be a socket path, which may hold any character). */
    public static String jsonString(String text) {
        StringBuilder b = new StringBuilder(text.length() + 2).append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
