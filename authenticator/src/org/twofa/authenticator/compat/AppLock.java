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

    /** BiometricPrompt (API 28): the system's prompt for a fingerprint or face, or the screen lock. */
    public static final int BIOMETRIC_PROMPT_SINCE = 28;
    /** setDeviceCredentialAllowed (API 29): the prompt itself offers PIN, pattern or password. */
    public static final int DEVICE_CREDENTIAL_IN_PROMPT_SINCE = 29;
    /** BiometricPrompt.BIOMETRIC_ERROR_CANCELED and BIOMETRIC_ERROR_USER_CANCELED (API 28). */
    static final int ERROR_CANCELED = 5;
    static final int ERROR_USER_CANCELED = 10;

    /** How the app asks to be unlocked on this platform level. */
    public enum Route {
        /** BiometricPrompt, which on Android 10+ also offers the screen lock. */
        BIOMETRIC_PROMPT,
        /** KeyguardManager's confirm-credential screen (Android 7 and 8, and every fallback). */
        CONFIRM_CREDENTIAL
    }

    public static Route route(int sdk) {
        return sdk >= BIOMETRIC_PROMPT_SINCE ? Route.BIOMETRIC_PROMPT : Route.CONFIRM_CREDENTIAL;
    }

    /**
     * After BiometricPrompt reported an error: false when the user cancelled
     * (stay locked, the Unlock button asks again), true when the prompt
     * could not do its job (no sensor, nothing enrolled, locked out, ...) and
     * the screen-lock confirmation should take over.
     */
    public static boolean fallBackAfterError(int errorCode) {
        return errorCode != ERROR_CANCELED && errorCode != ERROR_USER_CANCELED;
    }
}
