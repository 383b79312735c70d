package org.twofa.authenticator.vault;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;
import org.junit.After;
import org.junit.Before;
import org.junit.Test;
import org.twofa.authenticator.otp.Algorithm;
import org.twofa.authenticator.otp.HotpKey;
import org.twofa.authenticator.otp.Totp;

/**
 * The vault's crash window on Android 7 to 10, on the JVM: a stand-in for
 * AtomicFile that does what the platform's did on API 24 to 29 (rename the
 * file to .bak, write a new file, delete .bak; readFully puts .bak back), and
 * that can "crash" after any of those steps.
 */
public class VaultRepositoryTest {
    /** The steps of a legacy AtomicFile write, in order. */
    enum Step { RENAMED_TO_BACKUP, HALF_WRITTEN, WRITTEN, DONE }

    /** android.util.AtomicFile of API 24 to 29, with a crash after a chosen step. */
    static final class LegacyAtomicFile implements VaultFile {
        private final File base;
        private final File backup;
        Step crashAfter;

        LegacyAtomicFile(File base) {
            this.base = base;
            this.backup = new File(base.getPath() + ".bak");
        }

        @Override
        public File baseFile() {
            return base;
        }

        @Override
        public byte[] readFully() throws IOException {
            if (backup.exists()) {
                base.delete();
                if (!backup.renameTo(base)) {
                    throw new IOException("restore failed");
                }
            }
            return Files.readAllBytes(base.toPath());
        }

        @Override
        public void write(byte[] data) throws IOException {
            if (base.exists()) {
                if (!backup.exists()) {
                    if (!base.renameTo(backup)) {
                        throw new IOException("rename failed");
                    }
                } else {
                    base.delete();
                }
            }
            crash(Step.RENAMED_TO_BACKUP);
            FileOutputStream out = new FileOutputStream(base);
            try {
                out.write(data, 0, data.length / 2);
                crash(Step.HALF_WRITTEN);
                out.write(data, data.length / 2, data.length - data.length / 2);
            } finally {
                out.close();
            }
            crash(Step.WRITTEN);
            backup.delete();
            crash(Step.DONE);
        }

        private void crash(Step step) throws IOException {
            if (step == crashAfter) {
                throw new Crash(step);
            }
        }
    }

    static final class Crash extends IOException {
        private static final long serialVersionUID = 1L;

        Crash(Step step) {
            super("process killed after " + step);
        }
    }

    private static final SecretKey KEY = new SecretKeySpec(new byte[32], "AES");
    private static final VaultRepository.KeySource KEYS = new VaultRepository.KeySource() {
        @Override
        public SecretKey key() {
            return KEY;
        }
    };

    private File dir;
    private File base;

    @Before
    public void setUp() throws IOException {
        dir = Files.createTempDirectory("twofa-vault").toFile();
        base = new File(dir, "vault.bin");
    }

    @After
    public void tearDown() {
        File[] files = dir.listFiles();
        if (files != null) {
            for (File f : files) {
                f.delete();
            }
        }
        dir.delete();
    }

    private static Vault vaultOf(int n) {
        Vault v = new Vault();
        for (int i = 0; i < n; i++) {
            v.add(new TotpAccount("id-" + i, "Issuer " + i, "user" + i,
                    new Totp(new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, (byte) i}, Algorithm.SHA1, 6, 30)));
        }
        return v;
    }

    @Test
    public void nothingSavedYetGivesAnEmptyVault() throws Exception {
        VaultRepository repo = new VaultRepository(new LegacyAtomicFile(base), KEYS);
        assertFalse(repo.savedBefore());
        assertEquals(0, repo.load().size());
        assertFalse("load must not create the file", base.exists());
    }

    @Test
    public void crashAfterTheRenameKeepsEveryAccount() throws Exception {
        for (Step step : new Step[] {Step.RENAMED_TO_BACKUP, Step.HALF_WRITTEN}) {
            tearDown();
            setUp();
            LegacyAtomicFile file = new LegacyAtomicFile(base);
            new VaultRepository(file, KEYS).save(vaultOf(2));
            file.crashAfter = step;
            try {
                new VaultRepository(file, KEYS).save(vaultOf(3));
                fail("no crash");
            } catch (Crash expected) {
                // the process died here
            }
            // The window: only the backup holds the accounts (after RENAMED, vault.bin is gone).
            assertTrue(new File(base.getPath() + ".bak").exists());
            if (step == Step.RENAMED_TO_BACKUP) {
                assertFalse(base.exists());
            }
            // The app starts again.
            LegacyAtomicFile restarted = new LegacyAtomicFile(base);
            VaultRepository repo = new VaultRepository(restarted, KEYS);
            assertTrue(repo.savedBefore());
            Vault loaded = repo.load();
            assertEquals(step + ": the accounts of the last complete save", 2, loaded.size());
            // And the next save keeps them.
            loaded.add(vaultOf(3).accounts().get(2));
            repo.save(loaded);
            assertFalse(new File(base.getPath() + ".bak").exists());
            assertEquals(3, new VaultRepository(new LegacyAtomicFile(base), KEYS).load().size());
        }
    }

    @Test
    public void crashBeforeTheBackupIsDeletedKeepsTheLastCompleteSave() throws Exception {
        LegacyAtomicFile file = new LegacyAtomicFile(base);
        new VaultRepository(file, KEYS).save(vaultOf(1));
        file.crashAfter = Step.WRITTEN;
        try {
            new VaultRepository(file, KEYS).save(vaultOf(4));
            fail("no crash");
        } catch (Crash expected) {
            // died before deleting the backup: AtomicFile then prefers the backup (the old save)
        }
        Vault loaded = new VaultRepository(new LegacyAtomicFile(base), KEYS).load();
        assertEquals(1, loaded.size());
    }

    @Test
    public void setAsideRenamesAndNeverDeletes() throws Exception {
        LegacyAtomicFile file = new LegacyAtomicFile(base);
        VaultRepository repo = new VaultRepository(file, KEYS);
        repo.save(vaultOf(2));
        byte[] before = Files.readAllBytes(base.toPath());
        Files.write(new File(base.getPath() + ".bak").toPath(), new byte[] {1, 2, 3});
        File aside = repo.setAside("20261129T120000Z");
        assertEquals("vault.bin.unreadable-20261129T120000Z", aside.getName());
        assertArrayEquals(before, Files.readAllBytes(aside.toPath()));
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(new File(aside.getPath() + ".bak").toPath()));
        assertFalse(repo.savedBefore());
        assertEquals(0, repo.load().size());
        assertEquals(1, repo.setAsideFiles().size());
        // Restoring: the set-aside vault opens with the same key, and its accounts can be added back.
        assertEquals(2, repo.readSetAside(repo.setAsideFiles().get(0)).size());
        // The same name twice is refused rather than overwriting.
        repo.save(vaultOf(1));
        try {
            repo.setAside("20261129T120000Z");
            fail("overwrote a set-aside vault");
        } catch (IOException e) {
            assertTrue(e.getMessage().contains("already exists"));
        }
        assertTrue(base.exists());
    }

    @Test
    public void unreadableVaultIsAnErrorNotAnEmptyList() throws Exception {
        Files.write(base.toPath(), new byte[] {'2', 'F', 'A', 'E', 0, 1, 12, 0});
        try {
            new VaultRepository(new LegacyAtomicFile(base), KEYS).load();
            fail("garbage loaded");
        } catch (VaultFormatException e) {
            assertTrue(e.getMessage().contains("truncated"));
        }
        assertTrue(base.exists());
    }

    @Test
    public void hotpCounterSurvivesSaveAndLoad() throws Exception {
        Vault v = new Vault();
        HotpAccount h = new HotpAccount("h", "Ex", "bob",
                new HotpKey("12345678901234567890".getBytes("US-ASCII"), Algorithm.SHA1, 6, 0));
        v.add(h);
        VaultRepository repo = new VaultRepository(new LegacyAtomicFile(base), KEYS);
        repo.save(v);
        // "Next code": save the moved-on counter, then show its code.
        Vault loaded = repo.load();
        HotpAccount next = ((HotpAccount) loaded.find("h")).next();
        loaded.replace(next);
        repo.save(loaded);
        HotpAccount again = (HotpAccount) repo.load().find("h");
        assertEquals(1, again.hotp().counter());
        assertEquals("287082", again.hotp().code());
    }
}
