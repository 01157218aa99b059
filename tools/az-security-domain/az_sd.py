"""Runs the Azure CLI's own security-domain commands, from the azure-cli wheel the build script unpacked into site/:

  az_sd.py init-recovery TRANSFER_KEY_ANSWER.json SD_EXCHANGE_KEY
      what `az keyvault security-domain init-recovery --sd-exchange-key SD_EXCHANGE_KEY` does with the HSM's answer to
      GET /securitydomain/upload (read here from a file instead of over the network)
  az_sd.py restore-blob SD_FILE SD_EXCHANGE_KEY SD_FILE_RESTORE_BLOB WRAPPING_KEY... [--passwords PASSWORD...]
      `az keyvault security-domain restore-blob`, which needs neither a login nor the network

Only the command functions of azure/cli/command_modules/keyvault/custom.py and its security_domain package run, unchanged,
with `cryptography`. The rest of the CLI is not installed: the framework modules custom.py imports at its top (knack,
azure.cli.core, the keyvault client factory and validators) are stand-ins, since these two commands use none of them but
CLIError, and the packages are created bare so that their __init__ (the command table) does not run.
Exit 0 on success; on an error, `ERROR: <message>` on stderr (what az prints) and exit 1.
"""
import json
import logging
import os
import sys
import types

SITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'site')
KEYVAULT = 'azure.cli.command_modules.keyvault'


class CLIError(Exception):
    """knack.util.CLIError, the error az prints as ERROR: message."""


def stand_in(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    # Any other name imported from it is one of azure.cli.core's error classes (azclierror), or unused by these commands.
    module.__getattr__ = lambda attribute: type(attribute, (CLIError,), {})
    sys.modules[name] = module


def load_cli():
    sys.path.insert(0, SITE)
    for package in ['azure', 'azure.cli', 'azure.cli.command_modules', KEYVAULT]:
        module = types.ModuleType(package)
        module.__path__ = [os.path.join(SITE, *package.split('.'))]
        sys.modules[package] = module
    stand_in('knack')
    stand_in('knack.log', get_logger=logging.getLogger)
    stand_in('knack.util', CLIError=CLIError, todict=lambda o: o)
    for name in ['azure.cli.core', 'azure.cli.core.azclierror', 'azure.cli.core.profiles', 'azure.cli.core.util',
                 KEYVAULT + '._client_factory', KEYVAULT + '._validators']:
        stand_in(name)
    import importlib
    return importlib.import_module(KEYVAULT + '.custom')


class TransferKeyAnswer:
    """The security-domain client, as far as init-recovery uses it: the HSM's answer to GET /securitydomain/upload."""

    def __init__(self, path):
        with open(path) as f:
            self.answer = json.load(f)

    def get_transfer_key(self):
        return self.answer


def main(argv):
    custom = load_cli()
    command, args = argv[0], argv[1:]
    if command == 'init-recovery':
        custom.security_domain_init_recovery(TransferKeyAnswer(args[0]), sd_exchange_key=args[1])
    elif command == 'restore-blob':
        passwords = None
        if '--passwords' in args:
            passwords = args[args.index('--passwords') + 1:]
            args = args[:args.index('--passwords')]
        custom.security_domain_restore_blob(sd_file=args[0], sd_exchange_key=args[1], sd_file_restore_blob=args[2],
                                            sd_wrapping_keys=args[3:], passwords=passwords)
    else:
        raise SystemExit('unknown command ' + command)


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except Exception as e:  # the CLI's errors, and the crashes an unreadable security domain causes in it
        print('ERROR: ' + ('' if isinstance(e, CLIError) else type(e).__name__ + ': ') + str(e), file=sys.stderr)
        sys.exit(1)
