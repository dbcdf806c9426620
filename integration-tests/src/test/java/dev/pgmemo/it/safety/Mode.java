package dev.pgmemo.it.safety;

/** How pgjdbc talks to the server: which protocol path of pgmemo a test goes through. */
enum Mode {
    /** Simple Query messages, parameters inlined by the driver. */
    SIMPLE("preferQueryMode=simple"),
    /** Extended protocol with unnamed statements only (Parse/Bind/Describe/Execute/Sync each time), text results. */
    EXTENDED("preferQueryMode=extended&prepareThreshold=0"),
    /** Extended protocol with named server-side statements from the first use (Bind/Execute only when reused). */
    PREPARED("preferQueryMode=extended&prepareThreshold=1");

    final String urlParams;

    Mode(String urlParams) {
        this.urlParams = urlParams;
    }
}
