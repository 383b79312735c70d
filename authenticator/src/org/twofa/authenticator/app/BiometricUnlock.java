package org.twofa.authenticator.app;

import android.app.Activity;
import android.content.DialogInterface;
import android.hardware.biometrics.BiometricPrompt;
import android.os.Build;
import android.os.CancellationSignal;
import android.os.Handler;
import android.os.Looper;
import java.util.concurrent.Executor;
import org.twofa.authenticator.R;
import org.twofa.authenticator.compat.AppLock;
import org.twofa.authenticator.compat.NewerApi;

/**
 * The app lock's prompt on Android 9+: the system's BiometricPrompt
 * (fingerprint or face; on Android 10+ it also offers the screen lock
 * itself). Compiled against a compile-only stub of the API 28 class; only
 * reached through {@link #start}, which falls back (returns false) on an
 * older platform or when the class or a method is missing at run time.
 */
final class BiometricUnlock {
    /** What the prompt ends with. */
    interface Result {
        void unlocked();

        /** Use the screen-lock confirmation instead (no sensor, nothing enrolled, "Use PIN", ...). */
        void fallBack();
    }

    private BiometricUnlock() {}

    static boolean start(final Activity activity, final Result result) throws Exception {
        return NewerApi.tryNewer(Build.VERSION.SDK_INT, AppLock.BIOMETRIC_PROMPT_SINCE, new NewerApi.Attempt() {
            @Override
            public void run() {
                show(activity, result);
            }
        });
    }

    private static void show(Activity activity, final Result result) {
        final Handler main = new Handler(Looper.getMainLooper());
        Executor onMain = new Executor() {
            @Override
            public void execute(Runnable command) {
                main.post(command);
            }
        };
        BiometricPrompt.Builder builder = new BiometricPrompt.Builder(activity)
                .setTitle(activity.getString(R.string.app_name))
                .setDescription(activity.getString(R.string.lock_prompt));
        if (Build.VERSION.SDK_INT >= AppLock.DEVICE_CREDENTIAL_IN_PROMPT_SINCE) {
            // The prompt offers PIN, pattern or password itself; it then allows no negative button.
            builder.setDeviceCredentialAllowed(true);
        } else {
            builder.setNegativeButton(activity.getString(R.string.lock_use_screen_lock), onMain,
                    new DialogInterface.OnClickListener() {
                        @Override
                        public void onClick(DialogInterface dialog, int which) {
                            result.fallBack();
                        }
                    });
        }
        builder.build().authenticate(new CancellationSignal(), onMain, new BiometricPrompt.AuthenticationCallback() {
            @Override
            public void onAuthenticationSucceeded(BiometricPrompt.AuthenticationResult r) {
                result.unlocked();
            }

            @Override
            public void onAuthenticationError(int errorCode, CharSequence message) {
                if (AppLock.fallBackAfterError(errorCode)) {
                    result.fallBack();
                }
            }
        });
    }
}
