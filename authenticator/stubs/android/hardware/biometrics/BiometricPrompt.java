package android.hardware.biometrics;

import android.content.Context;
import android.content.DialogInterface;
import android.os.CancellationSignal;
import java.util.concurrent.Executor;

/**
 * Compile-only stub of the platform's BiometricPrompt (API 28), for the
 * methods the app uses and nothing else. It is on javac's class path only:
 * never dexed, so the phone's own class is the one that runs. Each
 * signature below was checked against the Android API reference:
 *
 * <pre>
 * BiometricPrompt.Builder(Context)                                              28
 * Builder setTitle(CharSequence)                                                28
 * Builder setDescription(CharSequence)                                          28
 * Builder setNegativeButton(CharSequence, Executor, DialogInterface.OnClickListener)  28
 * Builder setDeviceCredentialAllowed(boolean)                                   29 (deprecated in 30, still works)
 * BiometricPrompt build()                                                       28
 * void authenticate(CancellationSignal, Executor, AuthenticationCallback)       28
 * abstract static class AuthenticationCallback: onAuthenticationError(int, CharSequence),
 *   onAuthenticationHelp(int, CharSequence), onAuthenticationSucceeded(AuthenticationResult),
 *   onAuthenticationFailed()                                                    28
 * static class AuthenticationResult                                            28
 * </pre>
 */
public class BiometricPrompt {
    private BiometricPrompt() {
        throw new UnsupportedOperationException("compile-only stub");
    }

    public void authenticate(CancellationSignal cancel, Executor executor, AuthenticationCallback callback) {
        throw new UnsupportedOperationException("compile-only stub");
    }

    public static class Builder {
        public Builder(Context context) {
            throw new UnsupportedOperationException("compile-only stub");
        }

        public Builder setTitle(CharSequence title) {
            throw new UnsupportedOperationException("compile-only stub");
        }

        public Builder setDescription(CharSequence description) {
            throw new UnsupportedOperationException("compile-only stub");
        }

        public Builder setNegativeButton(CharSequence text, Executor executor,
                DialogInterface.OnClickListener listener) {
            throw new UnsupportedOperationException("compile-only stub");
        }

        public Builder setDeviceCredentialAllowed(boolean allowed) {
            throw new UnsupportedOperationException("compile-only stub");
        }

        public BiometricPrompt build() {
            throw new UnsupportedOperationException("compile-only stub");
        }
    }

    public abstract static class AuthenticationCallback {
        public void onAuthenticationError(int errorCode, CharSequence errString) {
        }

        public void onAuthenticationHelp(int helpCode, CharSequence helpString) {
        }

        public void onAuthenticationSucceeded(AuthenticationResult result) {
        }

        public void onAuthenticationFailed() {
        }
    }

    public static class AuthenticationResult {
        private AuthenticationResult() {
        }
    }
}
