package dev.pgmemo.proxy.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads and writes pid files; a pid file whose process is gone counts as stale. */
final class PidFile {
    private PidFile() {
    }

    static void write(Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(file, ProcessHandle.current().pid() + "\n", StandardCharsets.US_ASCII);
    }

    /** The pid in the file, or null if the file is missing or unreadable. */
    static Long read(Path file) {
        try {
            return Long.parseLong(Files.readString(file, StandardCharsets.US_ASCII).trim());
        } catch (IOException | NumberFormatException e) {
            return null;
        }
    }

    /** The pid in the file if that process is alive, else null. */
    static Long readLive(Path file) {
        Long pid = read(file);
        return pid != null && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) ? pid : null;
    }

    static void deleteIfOurs(Path file) {
        Long pid = read(file);
        if (pid != null && pid == ProcessHandle.current().pid()) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException ignored) {
                // best effort: a stale pid file is detected by readLive
            }
        }
    }
}
