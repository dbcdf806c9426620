package dev.pgmemo.protocol;

/** SQLSTATE codes pgmemo itself raises (PostgreSQL docs, Appendix A). */
public final class SqlState {
    private SqlState() {
    }

    public static final String PROTOCOL_VIOLATION = "08P01";
    public static final String CONNECTION_FAILURE = "08006";
    public static final String SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION = "08001";
    public static final String CONNECTION_EXCEPTION = "08000";
    public static final String FEATURE_NOT_SUPPORTED = "0A000";
    public static final String ADMIN_SHUTDOWN = "57P01";
    public static final String CANNOT_CONNECT_NOW = "57P03";
    public static final String TOO_MANY_CONNECTIONS = "53300";
    public static final String INTERNAL_ERROR = "XX000";
    public static final String IN_FAILED_SQL_TRANSACTION = "25P02";
}
