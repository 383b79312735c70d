package org.twofa.authenticator.app;

import android.app.Activity;
import android.app.Dialog;
import android.content.ClipData;
import android.content.ClipDescription;
import android.content.ClipboardManager;
import android.content.Context;
import android.os.Build;
import android.os.Handler;
import android.os.Looper;
import android.os.PersistableBundle;
import android.view.WindowManager;
import java.lang.reflect.Method;
import org.twofa.authenticator.R;
import org.twofa.authenticator.compat.ClipboardPolicy;
import org.twofa.authenticator.compat.NewerApi;

/** Window and clipboard hardening shared by every screen. */
final class Secure {
    /** ClipDescription.EXTRA_IS_SENSITIVE (API 33), as a literal: our class jar is API 23. */
    private static final String EXTRA_IS_SENSITIVE = "android.content.extra.IS_SENSITIVE";
    private static final int TIRAMISU = 33;

    private Secure() {}

    /** No screenshots, screen recording or recent-apps thumbnail of codes or secrets. */
    static void window(Activity activity) {
        activity.getWindow().setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE);
    }

    /** Dialogs are windows of their own: each one needs the flag too. Call before show(). */
    static Dialog dialog(Dialog dialog) {
        dialog.getWindow().setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE);
        return dialog;
    }

    /**
     * Copies a code under a neutral label (never the issuer: clipboard
     * history and keyboards show labels), marked sensitive on Android 13+ so
     * the system does not preview it, and clears it again after
     * {@link ClipboardPolicy#CLEAR_AFTER_MILLIS} unless the user copied
     * something else since. Returns true when Android 13+ shows its own
     * confirmation (so the app should not add a toast).
     */
    static boolean copy(Context context, String code) {
        final Context app = context.getApplicationContext();
        final String label = app.getString(R.string.clip_label);
        ClipboardManager clipboard = (ClipboardManager) app.getSystemService(Context.CLIPBOARD_SERVICE);
        ClipData clip = ClipData.newPlainText(label, code);
        if (Build.VERSION.SDK_INT >= TIRAMISU) {
            PersistableBundle extras = new PersistableBundle();
            extras.putBoolean(EXTRA_IS_SENSITIVE, true);
            try {
                // ClipDescription.setExtras arrived in API 24, after our class jar.
                Method setExtras = ClipDescription.class.getMethod("setExtras", PersistableBundle.class);
                setExtras.invoke(clip.getDescription(), extras);
            } catch (ReflectiveOperationException e) {
                // Every API 33 device has setExtras; if not, the copy still works, unmarked.
            }
        }
        clipboard.setPrimaryClip(clip);
        CLEANER.removeCallbacksAndMessages(null);
        CLEANER.postDelayed(new Runnable() {
            @Override
            public void run() {
                clearIfOurs(app, label);
            }
        }, ClipboardPolicy.CLEAR_AFTER_MILLIS);
        return Build.VERSION.SDK_INT >= TIRAMISU;
    }

    private static final Handler CLEANER = new Handler(Looper.getMainLooper());

    private static void clearIfOurs(Context app, String label) {
        ClipboardManager clipboard = (ClipboardManager) app.getSystemService(Context.CLIPBOARD_SERVICE);
        boolean readable = true;
        CharSequence current = null;
        try {
            ClipDescription description = clipboard.getPrimaryClipDescription();
            // Android 10+ hides the clipboard from apps in the background: null then.
            readable = description != null || !clipboard.hasPrimaryClip();
            current = description != null ? description.getLabel() : null;
        } catch (SecurityException e) {
            readable = false;
        }
        if (!ClipboardPolicy.shouldClear(readable, current, label)) {
            return;
        }
        try {
            // clearPrimaryClip (API 28) empties it for real; before, an empty clip replaces the code.
            if (!NewerApi.call(Build.VERSION.SDK_INT, NewerApi.P, clipboard, "clearPrimaryClip", null, null)) {
                clipboard.setPrimaryClip(ClipData.newPlainText("", ""));
            }
        } catch (Exception e) {
            // Not allowed here (some vendors): the code stays until the user copies something else.
        }
    }
}
