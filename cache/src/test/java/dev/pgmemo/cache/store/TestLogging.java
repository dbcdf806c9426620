package dev.pgmemo.cache.store;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import org.slf4j.LoggerFactory;

/** Keeps Lettuce and Netty debug chatter out of test output (logback's default is DEBUG for all). */
final class TestLogging {

  private TestLogging() {}

  static void quiet() {
    if (LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME) instanceof Logger root
        && root.getLevel() == Level.DEBUG) {
      root.setLevel(Level.INFO);
      ((Logger) LoggerFactory.getLogger("io.lettuce")).setLevel(Level.WARN);
      ((Logger) LoggerFactory.getLogger("io.netty")).setLevel(Level.WARN);
      ((Logger) LoggerFactory.getLogger("reactor")).setLevel(Level.WARN);
    }
  }
}
