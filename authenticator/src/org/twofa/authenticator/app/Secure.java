package org.twofa.authenticator.app;

import android.app.Activity;
import android.app.Dialog;
import android.content.ClipData;
import android.content.ClipDescription;
import android.content.ClipboardManager;
import android.content.Context;
import android.os.Build;
import android.os.PersistableBundle;
import android.view.WindowManager;
import java.lang.reflect.Method;

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
     * Copies a code; on Android 13+ the clip is marked sensitive so the system
     * does not show it in its clipboard preview. Returns true when Android 13+
     * shows its own confirmation (so the app should not add a toast).
     */
    static boolean copy(Context context, String label, String code) {
        ClipboardManager clipboard = (ClipboardManager) context.getSystemService(Context.CLIPBOARD_SERVICE);
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
        return Build.VERSION.SDK_INT >= TIRAMISU;
    }
}
