package dev.pgmemo.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Runs an external program (psql, pgbench, openssl, bin/pgmemo) with a deadline and captures its output. */
final class Cmd {
    record Result(List<String> command, int exitCode, String stdout, String stderr) {
        /** For assertion messages. */
        String describe() {
            return String.join(" ", command) + "\nexit " + exitCode + "\n--- stdout ---\n" + stdout
                    + "\n--- stderr ---\n" + stderr;
        }
    }

    private Cmd() {
    }

    static Result run(Duration timeout, Path dir, Map<String, String> env, String stdin, List<String> command) {
        ProcessBuilder pb = new ProcessBuilder(command);
        if (dir != null) {
            pb.directory(dir.toFile());
        }
        // Keep libpq and pgmemo from picking up settings of whoever runs the build.
        pb.environment().keySet().removeIf(k -> k.startsWith("PG"));
        pb.environment().put("PGCONNECT_TIMEOUT", "10");
        if (env != null) {
            pb.environment().putAll(env);
        }
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + command, e);
        }
        CompletableFuture<String> out = drain(p.getInputStream());
        CompletableFuture<String> err = drain(p.getErrorStream());
        try {
            if (stdin != null) {
                p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
            }
            p.getOutputStream().close();
        } catch (IOException e) {
            // the program may exit without reading its input; its exit code tells
        }
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                throw new AssertionError("timed out after " + timeout + ": " + String.join(" ", command)
                        + "\n--- stdout ---\n" + out.completeOnTimeout("", 5, TimeUnit.SECONDS).join()
                        + "\n--- stderr ---\n" + err.completeOnTimeout("", 5, TimeUnit.SECONDS).join());
            }
            return new Result(command, p.exitValue(), out.get(10, TimeUnit.SECONDS), err.get(10, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("cannot read the output of " + command, e);
        }
    }

    static Result run(Duration timeout, String... command) {
        return run(timeout, null, null, null, List.of(command));
    }

    /** Runs and fails unless the exit code is 0. */
    static Result ok(Duration timeout, String... command) {
        Result r = run(timeout, command);
        if (r.exitCode() != 0) {
            throw new AssertionError("command failed: " + r.describe());
        }
        return r;
    }

    /** Reads a stream to its end on its own thread (the common pool may have a single thread on 2 cores). */
    static CompletableFuture<String> drain(InputStream in) {
        CompletableFuture<String> result = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try (in) {
                result.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                result.complete("(cannot read: " + e + ")");
            }
        }, "cmd-output");
        t.setDaemon(true);
        t.start();
        return result;
    }
}
