package dev.pgmemo.it;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads pgmemo's admin HTTP endpoint, mainly Prometheus counters from {@code /metrics}. */
final class AdminHttp {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private AdminHttp() {
    }

    static HttpResponse<String> get(int adminPort, String path) {
        try {
            return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + path))
                    .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new IllegalStateException("admin endpoint on port " + adminPort + " did not answer " + path, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static String metrics(int adminPort) {
        HttpResponse<String> r = get(adminPort, "/metrics");
        if (r.statusCode() != 200) {
            throw new IllegalStateException("/metrics answered " + r.statusCode() + ": " + r.body());
        }
        return r.body();
    }

    /**
     * The value of one sample, e.g. {@code metric(port, "pgmemo_protocol_errors_total", null)} or with
     * {@code labels = "direction=\"upstream_to_client\""}; fails when the sample is missing.
     */
    static double metric(int adminPort, String name, String labels) {
        String text = metrics(adminPort);
        Pattern p = Pattern.compile("(?m)^" + Pattern.quote(name)
                + (labels == null ? "(?:\\{[^}]*})?" : "\\{[^}]*" + Pattern.quote(labels) + "[^}]*}")
                + " ([-+0-9.eE]+|NaN)$");
        Matcher m = p.matcher(text);
        if (!m.find()) {
            throw new AssertionError("no sample " + name + (labels == null ? "" : "{" + labels + "}")
                    + " in /metrics:\n" + text);
        }
        return Double.parseDouble(m.group(1));
    }
}
