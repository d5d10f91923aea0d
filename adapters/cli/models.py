"""`chatlink models`: the catalogue as MODELS_FILE and PERSONAS_FILE (or LLM_*) describe it."""

from __future__ import annotations

from bot.providers import build_catalogue
from bot.settings import Settings


async def list_models(settings: Settings) -> int:
    """Print every model (the default first) and persona; a bad file fails with its line."""
    catalogue = build_catalogue(settings)
    try:
        source = str(settings.models_file) if catalogue.from_file else "LLM_* settings"
        print(f"models ({source}):")
        for spec in catalogue.models:
            flags = [
                flag
                for flag, on in (
                    ("default", spec is catalogue.default),
                    ("admin only", spec.admin_only),
                    ("vision", spec.vision),
                    ("tools", spec.tools),
                )
                if on
            ]
            where = f" at {spec.base_url}" if spec.base_url else ""
            line = f"  {spec.name:<20} {spec.provider} {spec.model}{where}"
            line += f" [{', '.join(flags)}]" if flags else ""
            print(line + (f": {spec.description}" if spec.description else ""))
        if catalogue.personas:
            print(f"personas ({settings.personas_file}):")
            for persona in catalogue.personas:
                pinned = f" (model {persona.model})" if persona.model else ""
                print(f"  {persona.name:<20}{pinned} {persona.description}".rstrip())
    finally:
        await catalogue.close()
    return 0
