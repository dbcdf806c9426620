package dev.pgmemo.protocol;

/** A message whose body does not match its declared format; the connection it came from cannot continue. */
public class MalformedMessageException extends RuntimeException {
    public MalformedMessageException(String message) {
        super(message);
    }
}
