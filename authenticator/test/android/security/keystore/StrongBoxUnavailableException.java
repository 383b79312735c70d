package android.security.keystore;

import java.security.ProviderException;

/**
 * JVM stand-in with the name of the platform's exception (API 28), which
 * the Keystore throws when StrongBox cannot hold a key. Test code only:
 * never compiled into the APK.
 */
public class StrongBoxUnavailableException extends ProviderException {
    private static final long serialVersionUID = 1L;
}
