package dev.pgmemo.proxy.cli;

import dev.pgmemo.config.HostPort;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/** Talks to a running pgmemo's admin HTTP endpoint. */
final class AdminClient {
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final String base;

    AdminClient(HostPort admin) {
        String host = admin.host();
        if ("0.0.0.0".equals(host) || host.isEmpty()) {
            host = "127.0.0.1";
        } else if ("::".equals(host)) {
            host = "::1";
        }
        this.base = "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + admin.port();
    }

    String base() {
        return base;
    }

    /** Returns the response, or throws IOException when nothing answers. */
    HttpResponse<String> get(String path) throws IOException {
        return send(HttpRequest.newBuilder(URI.create(base + path)).GET());
    }

    HttpResponse<String> post(String path) throws IOException {
        return send(HttpRequest.newBuilder(URI.create(base + path)).POST(HttpRequest.BodyPublishers.noBody()));
    }

    private HttpResponse<String> send(HttpRequest.Builder b) throws IOException {
        try {
            return http.send(b.timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /**
     * POSTs to a running pgmemo and reports like a Unix command: the answer on stdout and 0 when it says
     * 200, the answer on stderr and 1 otherwise, and 3 (not running) when nothing answers.
     */
    static int postAndReport(HostPort admin, String path) {
        try {
            HttpResponse<String> r = new AdminClient(admin).post(path);
            if (r.statusCode() == 200) {
                System.out.print(r.body());
                return 0;
            }
            System.err.print("pgmemo: " + r.body());
            return 1;
        } catch (IOException e) {
            System.err.println("pgmemo is not running (admin endpoint " + admin + " unreachable)");
            return Pgmemo.EXIT_NOT_RUNNING;
        }
    }

    /** Crude field extraction from the flat JSON that /status returns. */
    static String field(String json, String name) {
        String key = "\"" + name + "\":";
        int i = json.indexOf(key);
        if (i < 0) {
            return null;
        }
        int start = i + key.length();
        if (json.charAt(start) == '"') {
            StringBuilder value = new StringBuilder();
            for (int j = start + 1; j < json.length(); j++) {
                char c = json.charAt(j);
                if (c == '"') {
                    return value.toString();
                }
                if (c == '\\' && j + 1 < json.length()) {
                    char e = json.charAt(++j);
                    if (e == 'u' && j + 4 < json.length()) {
                        value.append((char) Integer.parseInt(json.substring(j + 1, j + 5), 16));
                        j += 4;
                    } else {
                        value.append(e);
                    }
                } else {
                    value.append(c);
                }
            }
            return null;
        }
        int end = start;
        while (end < json.length() && (Character.isDigit(json.charAt(end)) || json.charAt(end) == '-')) {
            end++;
        }
        return json.substring(start, end);
    }
}
