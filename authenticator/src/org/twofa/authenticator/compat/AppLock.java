package org.twofa.authenticator.compat;

/**
 * When the optional app lock locks: it is on, and either the app starts
 * afresh or it was in the background for at least the chosen time. Times
 * are milliseconds of the monotonic clock (SystemClock.elapsedRealtime),
 * which a change of the phone's date cannot move.
 */
public final class AppLock {
    /** The lock is off. */
    public static final long OFF = -1;
    /** The choices the settings dialog offers, in seconds (0 = as soon as the app leaves the screen). */
    public static final long[] TIMEOUTS_SECONDS = {OFF, 0, 30, 60, 300};

    private AppLock() {}

    /**
     * @param timeoutSeconds {@link #OFF}, or seconds in the background before the lock takes effect
     * @param backgroundSince when the app left the screen, or 0 on a fresh start
     */
    public static boolean shouldLock(long timeoutSeconds, long backgroundSince, long now) {
        if (timeoutSeconds < 0) {
            return false;
        }
        if (backgroundSince <= 0 || now < backgroundSince) {
            return true;
        }
        return now - backgroundSince >= timeoutSeconds * 1000L;
    }
}
