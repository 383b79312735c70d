package org.twofa.authenticator.app;

import android.content.Context;
import android.security.keystore.KeyGenParameterSpec;
import android.security.keystore.KeyProperties;
import android.util.AtomicFile;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import org.twofa.authenticator.vault.Vault;
import org.twofa.authenticator.vault.VaultCipher;
import org.twofa.authenticator.vault.VaultCodec;
import org.twofa.authenticator.vault.VaultFormatException;

/**
 * The vault on disk: {@link VaultCodec} bytes sealed by {@link VaultCipher}
 * under an AES-256-GCM key that lives in the Android Keystore and never
 * leaves it. The file is in the no-backup folder and written atomically.
 */
final class VaultStore {
    private static final String KEYSTORE = "AndroidKeyStore";
    private static final String KEY_ALIAS = "twofa-vault-key";
    private static final String FILE_NAME = "vault.bin";

    private final AtomicFile file;

    VaultStore(Context context) {
        file = new AtomicFile(new File(context.getNoBackupFilesDir(), FILE_NAME));
    }

    /** The saved vault, or an empty one the first time. Never overwrites anything. */
    Vault load() throws IOException, GeneralSecurityException, VaultFormatException {
        if (!file.getBaseFile().exists()) {
            return new Vault();
        }
        byte[] sealed = file.readFully();
        return VaultCodec.decode(VaultCipher.open(key(), sealed));
    }

    void save(Vault vault) throws IOException, GeneralSecurityException {
        byte[] sealed = VaultCipher.seal(key(), VaultCodec.encode(vault));
        FileOutputStream out = file.startWrite();
        try {
            out.write(sealed);
            file.finishWrite(out);
        } catch (IOException e) {
            file.failWrite(out);
            throw e;
        }
    }

    private static SecretKey key() throws GeneralSecurityException, IOException {
        KeyStore keyStore = KeyStore.getInstance(KEYSTORE);
        keyStore.load(null);
        if (keyStore.containsAlias(KEY_ALIAS)) {
            return (SecretKey) keyStore.getKey(KEY_ALIAS, null);
        }
        KeyGenerator generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE);
        generator.init(new KeyGenParameterSpec.Builder(KEY_ALIAS,
                        KeyProperties.PURPOSE_ENCRYPT | KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .setRandomizedEncryptionRequired(true)
                .build());
        return generator.generateKey();
    }
}
