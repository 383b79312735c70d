package org.twofa.authenticator.app;

import android.content.Context;
import android.os.Build;
import android.security.keystore.KeyGenParameterSpec;
import android.security.keystore.KeyProperties;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import org.twofa.authenticator.compat.NewerApi;
import org.twofa.authenticator.vault.VaultRepository;

/**
 * The Android Keystore keys: the vault key (AES-256-GCM, never leaves the
 * Keystore) and the app-lock key (usable only for a while after the user
 * unlocked the phone or confirmed the screen lock). Newer protections are
 * asked for where the platform has them: setUnlockedDeviceRequired and
 * StrongBox on Android 9+, each through {@link NewerApi} with a fallback.
 */
final class KeystoreKeys {
    private static final String KEYSTORE = "AndroidKeyStore";
    private static final String VAULT_KEY = "twofa-vault-key";
    static final String LOCK_KEY = "twofa-lock-key";
    /** PackageManager.FEATURE_STRONGBOX_KEYSTORE (API 28), as a literal: our class jar is API 23. */
    private static final String FEATURE_STRONGBOX = "android.hardware.strongbox_keystore";

    private KeystoreKeys() {}

    static VaultRepository.KeySource vaultKey(final Context context) {
        return new VaultRepository.KeySource() {
            @Override
            public SecretKey key() throws GeneralSecurityException, IOException {
                return getOrCreate(context, VAULT_KEY, 0);
            }
        };
    }

    /**
     * A key bound to user authentication: usable for {@code seconds} after
     * the screen lock was confirmed. The app lock proves an unlock by using it.
     */
    static SecretKey lockKey(Context context, int seconds) throws GeneralSecurityException, IOException {
        return getOrCreate(context, LOCK_KEY, seconds);
    }

    static void deleteLockKey() throws GeneralSecurityException, IOException {
        KeyStore keyStore = KeyStore.getInstance(KEYSTORE);
        keyStore.load(null);
        if (keyStore.containsAlias(LOCK_KEY)) {
            keyStore.deleteEntry(LOCK_KEY);
        }
    }

    private static SecretKey getOrCreate(Context context, final String alias, final int authSeconds)
            throws GeneralSecurityException, IOException {
        KeyStore keyStore = KeyStore.getInstance(KEYSTORE);
        keyStore.load(null);
        if (keyStore.containsAlias(alias)) {
            return (SecretKey) keyStore.getKey(alias, null);
        }
        boolean strongBox = Build.VERSION.SDK_INT >= NewerApi.P
                && context.getPackageManager().hasSystemFeature(FEATURE_STRONGBOX);
        try {
            return NewerApi.withStrongBoxFallback(strongBox, new NewerApi.KeyAttempt<SecretKey>() {
                @Override
                public SecretKey generate(boolean inStrongBox) throws Exception {
                    KeyGenParameterSpec.Builder spec = new KeyGenParameterSpec.Builder(alias,
                            KeyProperties.PURPOSE_ENCRYPT | KeyProperties.PURPOSE_DECRYPT)
                            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                            .setKeySize(256)
                            .setRandomizedEncryptionRequired(true);
                    if (authSeconds > 0) {
                        spec.setUserAuthenticationRequired(true);
                        spec.setUserAuthenticationValidityDurationSeconds(authSeconds);
                    } else {
                        // The vault key: only while the phone is unlocked (Android 9+).
                        NewerApi.call(Build.VERSION.SDK_INT, NewerApi.P, spec,
                                "setUnlockedDeviceRequired", boolean.class, Boolean.TRUE);
                    }
                    if (inStrongBox) {
                        NewerApi.call(Build.VERSION.SDK_INT, NewerApi.P, spec,
                                "setIsStrongBoxBacked", boolean.class, Boolean.TRUE);
                    }
                    KeyGenerator generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE);
                    generator.init(spec.build());
                    return generator.generateKey();
                }
            });
        } catch (GeneralSecurityException | IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new GeneralSecurityException(e);
        }
    }

}
