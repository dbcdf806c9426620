package dev.pgmemo.proxy.cli;

import dev.pgmemo.proxy.Version;
import io.netty.util.ResourceLeakDetector;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code pgmemo} command line. */
@Command(name = "pgmemo", mixinStandardHelpOptions = true, versionProvider = Pgmemo.VersionProvider.class,
        description = "A transparent caching proxy for PostgreSQL.",
        subcommands = {StartCommand.class, StopCommand.class, StatusCommand.class, ReloadCommand.class, InvalidateCommand.class, CheckConfigCommand.class,
                CommandLine.HelpCommand.class})
public final class Pgmemo implements Runnable {
    /** Exit code of {@code status} when pgmemo is not running (LSB). */
    static final int EXIT_NOT_RUNNING = 3;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.err);
        throw new CommandLine.ParameterException(spec.commandLine(), "Missing required subcommand");
    }

    public static void main(String[] args) {
        // Netty samples one buffer in 128 for leak tracking, with a stack trace each: 1-4 % of the CPU of a
        // busy relay. The tests keep it on (they do not start through here); -Dio.netty.leakDetection.level
        // turns it back on in production.
        if (System.getProperty("io.netty.leakDetection.level") == null) {
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
        }
        System.exit(new CommandLine(new Pgmemo()).execute(args));
    }

    static final class VersionProvider implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"pgmemo " + Version.get()};
        }
    }
}
