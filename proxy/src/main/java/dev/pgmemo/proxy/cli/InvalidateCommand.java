package dev.pgmemo.proxy.cli;

import dev.pgmemo.config.ConfigException;
import dev.pgmemo.config.PgmemoConfig;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code pgmemo invalidate}: drops cached results of a table, or all of them. */
@Command(name = "invalidate", mixinStandardHelpOptions = true,
        description = "Invalidate cached results that read a table (--table), or every cached result (--all). "
                + "Shared with every pgmemo using the same Redis.")
final class InvalidateCommand implements Callable<Integer> {
    @Mixin
    ConfigOption config;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Target target;

    static final class Target {
        @Option(names = "--table", paramLabel = "TABLE", description = "Table name (schema.table or table).")
        String table;

        @Option(names = "--all", description = "Every cached result.")
        boolean all;
    }

    @Option(names = "--database", paramLabel = "DB", description = "Only in this database (default: every database this pgmemo has served).")
    String database;

    @Override
    public Integer call() {
        PgmemoConfig cfg;
        try {
            cfg = config.load();
        } catch (ConfigException e) {
            System.err.println("pgmemo: " + e.getMessage());
            return 1;
        }
        String path = target.all ? "/invalidate?all=1"
                : "/invalidate?table=" + URLEncoder.encode(target.table, StandardCharsets.UTF_8)
                + (database == null ? "" : "&database=" + URLEncoder.encode(database, StandardCharsets.UTF_8));
        return AdminClient.postAndReport(cfg.admin().listen(), path);
    }
}
