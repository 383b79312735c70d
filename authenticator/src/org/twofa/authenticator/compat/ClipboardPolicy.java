package org.twofa.authenticator.compat;

/**
 * Clearing a copied code 30 seconds later without wiping what the user
 * copied since. The clip carries a neutral label (never the issuer, which
 * clipboard history and keyboards may show); the app clears the clipboard
 * when that label is still there, or when the platform no longer lets a
 * background app read it (Android 10+), where clearing is the safer side.
 */
public final class ClipboardPolicy {
    public static final long CLEAR_AFTER_MILLIS = 30_000L;

    private ClipboardPolicy() {}

    /**
     * @param readable whether the app could read the current clip's description
     * @param currentLabel the current clip's label when readable (may be null: empty clipboard)
     */
    public static boolean shouldClear(boolean readable, CharSequence currentLabel, String ourLabel) {
        if (!readable) {
            return true;
        }
        return currentLabel != null && ourLabel.contentEquals(currentLabel);
    }
}
