package dev.pgmemo.it;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.slf4j.LoggerFactory;

/**
 * Turns Netty's leak reports (Failsafe runs with paranoid leak detection) into test failures: after a test
 * class, forces collection, makes the detector poll its queue, and fails if any "LEAK:" was logged since
 * the class started. pgmemo runs in this JVM, so a ByteBuf it forgot to release shows up here.
 */
final class LeakWatch implements BeforeAllCallback, AfterAllCallback {
    private static final List<String> LEAKS = new CopyOnWriteArrayList<>();
    private static volatile boolean installed;

    private static synchronized void install() {
        if (installed) {
            return;
        }
        Logger detector = (Logger) LoggerFactory.getLogger("io.netty.util.ResourceLeakDetector");
        AppenderBase<ILoggingEvent> appender = new AppenderBase<>() {
            @Override
            protected void append(ILoggingEvent event) {
                if (event.getFormattedMessage().contains("LEAK:")) {
                    LEAKS.add(event.getFormattedMessage());
                }
            }
        };
        appender.setContext(detector.getLoggerContext());
        appender.start();
        detector.addAppender(appender);
        installed = true;
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        install();
        LEAKS.clear();
    }

    @Override
    public void afterAll(ExtensionContext context) throws InterruptedException {
        for (int round = 0; round < 3; round++) {
            System.gc();
            Thread.sleep(100);
            // The detector reports what the GC found when the next buffer is tracked.
            for (int i = 0; i < 100; i++) {
                ByteBuf b = ByteBufAllocator.DEFAULT.directBuffer(16);
                b.release();
            }
        }
        if (!LEAKS.isEmpty()) {
            throw new AssertionError(LEAKS.size() + " ByteBuf leak report(s) from Netty during "
                    + context.getDisplayName() + "; the first:\n" + LEAKS.get(0));
        }
    }
}
