package org.twofa.authenticator.transfer;

import org.twofa.authenticator.vault.Vault;

/**
 * Command line: times the export's key derivation (scrypt with the app's
 * default parameters) by encrypting and opening an export a few times, for
 * docs/benchmarks.md. {@code java -cp CLASSES org.twofa.authenticator.transfer.ExportTiming [runs]}.
 * A measurement tool, not a test: timings never decide pass or fail.
 */
public final class ExportTiming {
    private ExportTiming() {}

    public static void main(String[] args) throws Exception {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 6;
        char[] password = "benchmark-password".toCharArray();
        for (int i = 0; i < runs; i++) {
            long start = System.nanoTime();
            byte[] file = ExportFile.encrypt(new Vault(), password);
            long encrypted = System.nanoTime();
            ExportFile.decrypt(file, password);
            long opened = System.nanoTime();
            System.out.printf("run %d: export %.0f ms, import %.0f ms%n", i + 1, (encrypted - start) / 1e6,
                    (opened - encrypted) / 1e6);
        }
    }
}
