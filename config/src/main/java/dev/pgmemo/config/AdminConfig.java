package dev.pgmemo.config;

import java.util.Objects;

/** The admin HTTP endpoint: {@code /metrics}, {@code /health}, stop and reload. */
public record AdminConfig(HostPort listen, boolean enabled) {
    public static final HostPort DEFAULT_LISTEN = new HostPort("127.0.0.1", 9433);

    public AdminConfig {
        Objects.requireNonNull(listen, "listen");
    }

    /** Enabled on 127.0.0.1:9433. */
    public static AdminConfig defaults() {
        return new AdminConfig(DEFAULT_LISTEN, true);
    }
}
