package org.twofa.authenticator.app;

import android.Manifest;
import android.app.Activity;
import android.app.AlertDialog;
import android.content.DialogInterface;
import android.content.Intent;
import android.content.pm.PackageManager;
import android.net.Uri;
import android.os.Bundle;
import android.os.Handler;
import android.provider.Settings;
import android.view.Menu;
import android.view.MenuItem;
import android.view.View;
import android.widget.AdapterView;
import android.widget.Button;
import android.widget.EditText;
import android.widget.ListView;
import android.widget.TextView;
import android.widget.Toast;
import org.twofa.authenticator.R;
import java.util.Collections;
import java.util.UUID;
import org.twofa.authenticator.otp.Algorithm;
import org.twofa.authenticator.otp.Base32;
import org.twofa.authenticator.otp.InvalidOtpAuthUriException;
import org.twofa.authenticator.otp.OtpAuthUri;
import org.twofa.authenticator.otp.Totp;
import org.twofa.authenticator.vault.Account;
import org.twofa.authenticator.vault.TotpAccount;
import org.twofa.authenticator.vault.Vault;

/**
 * The account list, and every way to add, copy, rename and delete. Accounts
 * arrive from the camera ({@link ScanActivity}), from an otpauth:// link
 * (intent filter; this activity is singleTask so a link reaches the running
 * list through onNewIntent), or from the manual-entry dialog.
 */
public class MainActivity extends Activity {
    private static final int REQUEST_CAMERA_PERMISSION = 1;
    private static final int REQUEST_SCAN = 2;

    private final Handler ticker = new Handler();
    private final Runnable tick = new Runnable() {
        @Override
        public void run() {
            adapter.notifyDataSetChanged();
            long millis = System.currentTimeMillis();
            ticker.postDelayed(this, 1000 - millis % 1000 + 5);
        }
    };

    private VaultStore store;
    /** Null when the saved vault could not be read: then nothing may be saved over it. */
    private Vault vault;
    private AccountAdapter adapter;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        Secure.window(this);
        setContentView(R.layout.main);
        store = new VaultStore(this);

        ListView list = (ListView) findViewById(R.id.accounts);
        list.setEmptyView(findViewById(R.id.empty));
        adapter = new AccountAdapter(this, Collections.<Account>emptyList());
        list.setAdapter(adapter);
        list.setOnItemClickListener(new AdapterView.OnItemClickListener() {
            @Override
            public void onItemClick(AdapterView<?> parent, View view, int position, long id) {
                copyCode(adapter.getItem(position));
            }
        });
        list.setOnItemLongClickListener(new AdapterView.OnItemLongClickListener() {
            @Override
            public boolean onItemLongClick(AdapterView<?> parent, View view, int position, long id) {
                showAccountActions(adapter.getItem(position));
                return true;
            }
        });
        ((Button) findViewById(R.id.empty_scan)).setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                startScan();
            }
        });
        ((Button) findViewById(R.id.empty_manual)).setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                showManualEntry();
            }
        });

        loadVault();
        if (state == null) {
            handleLink(getIntent());
        }
    }

    @Override
    protected void onNewIntent(Intent intent) {
        super.onNewIntent(intent);
        setIntent(intent);
        handleLink(intent);
    }

    @Override
    protected void onResume() {
        super.onResume();
        ticker.post(tick);
    }

    @Override
    protected void onPause() {
        ticker.removeCallbacks(tick);
        super.onPause();
    }

    // ------------------------------------------------------------ vault

    private void loadVault() {
        try {
            vault = store.load();
            adapter.setAccounts(vault.accounts());
        } catch (Exception e) {
            vault = null;
            ((TextView) findViewById(R.id.empty_title)).setText(R.string.vault_error_title);
            ((TextView) findViewById(R.id.empty_body)).setText(getString(R.string.vault_error_body, message(e)));
            findViewById(R.id.empty_scan).setVisibility(View.GONE);
            findViewById(R.id.empty_manual).setVisibility(View.GONE);
        }
    }

    /** Saves, or reloads what is on disk and says why the change was lost. */
    private boolean saveVault() {
        try {
            store.save(vault);
            adapter.setAccounts(vault.accounts());
            return true;
        } catch (Exception e) {
            alert(getString(R.string.save_failed, message(e)));
            loadVault();
            return false;
        }
    }

    private static String message(Exception e) {
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    private void addAccount(String issuer, String name, Totp totp) {
        if (vault == null) {
            alert(getString(R.string.vault_error_title));
            return;
        }
        for (Account a : vault.accounts()) {
            if (a instanceof TotpAccount && ((TotpAccount) a).totp().equals(totp)
                    && a.issuer().equals(issuer) && a.name().equals(name)) {
                alert(getString(R.string.duplicate));
                return;
            }
        }
        vault.add(new TotpAccount(UUID.randomUUID().toString(), issuer, name, totp));
        saveVault();
    }

    // ------------------------------------------------------------ menu

    @Override
    public boolean onCreateOptionsMenu(Menu menu) {
        getMenuInflater().inflate(R.menu.main, menu);
        return true;
    }

    @Override
    public boolean onPrepareOptionsMenu(Menu menu) {
        boolean usable = vault != null;
        menu.findItem(R.id.action_scan).setVisible(usable);
        menu.findItem(R.id.action_manual).setVisible(usable);
        return true;
    }

    @Override
    public boolean onOptionsItemSelected(MenuItem item) {
        if (item.getItemId() == R.id.action_scan) {
            startScan();
            return true;
        }
        if (item.getItemId() == R.id.action_manual) {
            showManualEntry();
            return true;
        }
        return super.onOptionsItemSelected(item);
    }

    // ------------------------------------------------------------ copy, rename, delete

    private void copyCode(Account account) {
        String code = AccountAdapter.currentCode(account);
        if (code == null) {
            return;
        }
        boolean systemConfirms = Secure.copy(this, AccountAdapter.title(account), code);
        if (!systemConfirms) {
            Toast.makeText(this, R.string.copied, Toast.LENGTH_SHORT).show();
        }
    }

    private void showAccountActions(final Account account) {
        String[] actions = {getString(R.string.menu_rename), getString(R.string.menu_delete)};
        show(new AlertDialog.Builder(this)
                .setTitle(getString(R.string.account_actions, AccountAdapter.describe(account)))
                .setItems(actions, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        if (which == 0) {
                            showRename(account);
                        } else {
                            confirmDelete(account);
                        }
                    }
                })
                .create());
    }

    private void showRename(final Account account) {
        final View form = getLayoutInflater().inflate(R.layout.dialog_account, null);
        final EditText issuer = (EditText) form.findViewById(R.id.field_issuer);
        final EditText name = (EditText) form.findViewById(R.id.field_account);
        form.findViewById(R.id.field_secret).setVisibility(View.GONE);
        issuer.setText(account.issuer());
        name.setText(account.name());
        final AlertDialog dialog = new AlertDialog.Builder(this)
                .setTitle(R.string.rename_title)
                .setView(form)
                .setPositiveButton(R.string.save, null)
                .setNegativeButton(R.string.cancel, null)
                .create();
        show(dialog);
        dialog.getButton(AlertDialog.BUTTON_POSITIVE).setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                String newName = name.getText().toString().trim();
                if (newName.isEmpty()) {
                    showFieldError(form, getString(R.string.error_account_empty));
                    return;
                }
                if (vault != null && vault.rename(account.id(), issuer.getText().toString().trim(), newName)) {
                    saveVault();
                }
                dialog.dismiss();
            }
        });
    }

    private void confirmDelete(final Account account) {
        show(new AlertDialog.Builder(this)
                .setTitle(R.string.delete_title)
                .setMessage(getString(R.string.delete_body, AccountAdapter.describe(account)))
                .setPositiveButton(R.string.delete_confirm, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        if (vault != null && vault.remove(account.id())) {
                            saveVault();
                        }
                    }
                })
                .setNegativeButton(R.string.cancel, null)
                .create());
    }

    // ------------------------------------------------------------ add: manual entry

    private void showManualEntry() {
        if (vault == null) {
            return;
        }
        final View form = getLayoutInflater().inflate(R.layout.dialog_account, null);
        final EditText issuer = (EditText) form.findViewById(R.id.field_issuer);
        final EditText name = (EditText) form.findViewById(R.id.field_account);
        final EditText secret = (EditText) form.findViewById(R.id.field_secret);
        final AlertDialog dialog = new AlertDialog.Builder(this)
                .setTitle(R.string.add_title)
                .setView(form)
                .setPositiveButton(R.string.add, null)
                .setNegativeButton(R.string.cancel, null)
                .create();
        show(dialog);
        // Our own listener keeps the dialog open while the input is wrong.
        dialog.getButton(AlertDialog.BUTTON_POSITIVE).setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                String accountName = name.getText().toString().trim();
                String secretText = secret.getText().toString();
                if (accountName.isEmpty()) {
                    showFieldError(form, getString(R.string.error_account_empty));
                    return;
                }
                if (secretText.trim().isEmpty()) {
                    showFieldError(form, getString(R.string.error_secret_empty));
                    return;
                }
                byte[] key;
                try {
                    key = Base32.decode(secretText);
                } catch (Base32.InvalidBase32Exception e) {
                    showFieldError(form, getString(R.string.error_secret_invalid));
                    return;
                }
                if (key.length < OtpAuthUri.MIN_SECRET_BYTES) {
                    showFieldError(form, getString(R.string.error_secret_short));
                    return;
                }
                addAccount(issuer.getText().toString().trim(), accountName,
                        new Totp(key, Algorithm.SHA1, Totp.DEFAULT_DIGITS, Totp.DEFAULT_PERIOD));
                dialog.dismiss();
            }
        });
    }

    private static void showFieldError(View form, String text) {
        TextView error = (TextView) form.findViewById(R.id.field_error);
        error.setText(text);
        error.setVisibility(View.VISIBLE);
    }

    // ------------------------------------------------------------ add: otpauth link or scanned QR

    private void handleLink(Intent intent) {
        if (intent == null || !Intent.ACTION_VIEW.equals(intent.getAction()) || intent.getData() == null) {
            return;
        }
        String uri = intent.getDataString();
        // Handled once: a rotation must not ask again.
        intent.setData(null);
        intent.setAction(Intent.ACTION_MAIN);
        offerLink(uri != null ? uri : "");
    }

    private void offerLink(String uri) {
        if (vault == null) {
            return;
        }
        final OtpAuthUri parsed;
        try {
            parsed = OtpAuthUri.parse(uri);
        } catch (InvalidOtpAuthUriException e) {
            show(new AlertDialog.Builder(this)
                    .setTitle(R.string.invalid_link_title)
                    .setMessage(getString(R.string.invalid_link_body, e.getMessage()))
                    .setPositiveButton(R.string.ok, null)
                    .create());
            return;
        }
        String who = parsed.issuer().isEmpty() ? parsed.accountName()
                : parsed.issuer() + " (" + parsed.accountName() + ")";
        show(new AlertDialog.Builder(this)
                .setTitle(R.string.add_title)
                .setMessage(getString(R.string.add_link_body, who))
                .setPositiveButton(R.string.add, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        addAccount(parsed.issuer(), parsed.accountName(), parsed.totp());
                    }
                })
                .setNegativeButton(R.string.cancel, null)
                .create());
    }

    // ------------------------------------------------------------ add: camera

    private void startScan() {
        if (vault == null) {
            return;
        }
        if (checkSelfPermission(Manifest.permission.CAMERA) == PackageManager.PERMISSION_GRANTED) {
            startActivityForResult(new Intent(this, ScanActivity.class), REQUEST_SCAN);
            return;
        }
        requestPermissions(new String[] {Manifest.permission.CAMERA}, REQUEST_CAMERA_PERMISSION);
    }

    @Override
    public void onRequestPermissionsResult(int requestCode, String[] permissions, int[] results) {
        if (requestCode != REQUEST_CAMERA_PERMISSION) {
            return;
        }
        if (results.length > 0 && results[0] == PackageManager.PERMISSION_GRANTED) {
            startActivityForResult(new Intent(this, ScanActivity.class), REQUEST_SCAN);
            return;
        }
        // After a "don't ask again" (or a policy), Android no longer shows its prompt:
        // send the user to Settings instead of asking in vain.
        boolean canAskAgain = shouldShowRequestPermissionRationale(Manifest.permission.CAMERA);
        AlertDialog.Builder builder = new AlertDialog.Builder(this)
                .setTitle(R.string.camera_denied_title)
                .setMessage(canAskAgain ? R.string.camera_denied_body : R.string.camera_denied_forever_body)
                .setNeutralButton(R.string.action_manual, new DialogInterface.OnClickListener() {
                    @Override
                    public void onClick(DialogInterface dialog, int which) {
                        showManualEntry();
                    }
                })
                .setNegativeButton(R.string.cancel, null);
        if (canAskAgain) {
            builder.setPositiveButton(R.string.try_again, new DialogInterface.OnClickListener() {
                @Override
                public void onClick(DialogInterface dialog, int which) {
                    startScan();
                }
            });
        } else {
            builder.setPositiveButton(R.string.open_settings, new DialogInterface.OnClickListener() {
                @Override
                public void onClick(DialogInterface dialog, int which) {
                    startActivity(new Intent(Settings.ACTION_APPLICATION_DETAILS_SETTINGS,
                            Uri.fromParts("package", getPackageName(), null)));
                }
            });
        }
        show(builder.create());
    }

    @Override
    protected void onActivityResult(int requestCode, int resultCode, Intent data) {
        super.onActivityResult(requestCode, resultCode, data);
        if (requestCode == REQUEST_SCAN && resultCode == RESULT_OK && data != null) {
            String uri = data.getStringExtra(ScanActivity.EXTRA_URI);
            if (uri != null) {
                offerLink(uri);
            }
        } else if (requestCode == REQUEST_SCAN && resultCode == ScanActivity.RESULT_CAMERA_FAILED) {
            alert(getString(R.string.camera_unavailable));
        }
    }

    // ------------------------------------------------------------ dialogs

    private void show(AlertDialog dialog) {
        Secure.dialog(dialog).show();
    }

    private void alert(String text) {
        show(new AlertDialog.Builder(this).setMessage(text).setPositiveButton(R.string.ok, null).create());
    }
}
