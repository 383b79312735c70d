package org.twofa.authenticator.transfer;

/**
 * When to remind the user to export: some account was added or changed
 * after the last export (or there never was one), and the user has not
 * dismissed the reminder since that change. Times are milliseconds since
 * 1970; 0 means never.
 */
public final class ExportReminder {
    private ExportReminder() {}

    public static boolean due(int accounts, long lastChange, long lastExport, long dismissedAt) {
        return accounts > 0 && lastChange > lastExport && lastChange > dismissedAt;
    }
}
