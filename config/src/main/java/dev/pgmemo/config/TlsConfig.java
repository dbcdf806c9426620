package dev.pgmemo.config;

import java.nio.file.Path;
import java.util.Objects;

/**
 * The certificate chain and private key (PEM files) pgmemo presents to clients that ask for TLS.
 * The loader has checked that both files exist and are readable.
 */
public record TlsConfig(Path cert, Path key) {
    public TlsConfig {
        Objects.requireNonNull(cert, "cert");
        Objects.requireNonNull(key, "key");
    }
}
